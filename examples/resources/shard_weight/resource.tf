# In shard-2/: this shard's share of traffic on the shared listener. Other shard directories
# own their own entries; applies may run at the same time.
resource "shard_weight" "this" {
  listener_arn     = data.terraform_remote_state.ingress.outputs.listener_arn
  target_group_arn = data.terraform_remote_state.ingress.outputs.target_group_arns["shard-2"]
  weight           = var.in_maintenance ? 0 : 50

  # Wait for 2 healthy targets before taking traffic, drain 30 s before an upgrade proceeds.
  min_healthy_targets = 2
  drain_delay         = "30s"

  # Come back gradually, re-checking health at every step.
  ramp {
    step     = 10
    interval = "30s"
  }

  timeouts {
    create = "15m"
    update = "15m"
  }
}
