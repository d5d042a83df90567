# In shard-2/: this shard's share of traffic on the shared listener. Other shard directories
# own their own entries; applies may run at the same time.
resource "shard_weight" "this" {
  listener_arn     = data.terraform_remote_state.ingress.outputs.listener_arn
  target_group_arn = data.terraform_remote_state.ingress.outputs.target_group_arns["shard-2"]
  weight           = var.in_maintenance ? 0 : 50

  # Wait for 2 healthy targets before taking traffic, drain 30 s before an upgrade proceeds.
  min_healthy_targets = 2
  drain_delay         = "30s"

  # One shard out at a time across all shard directories, decided under the listener lock; a
  # refused drain names the shard that is out, since when and by whom.
  fleet_guard {
    min_serving = 1
    max_drained = 1
    contact     = "team-payments @oncall"
  }

  # Come back gradually, re-checking health at every step.
  ramp {
    step     = 10
    interval = "2m"
  }

  # Judge every step by this shard's own ALB metrics, and keep judging for 5 minutes at the
  # target; a breach steps back to the last good weight and fails the apply.
  metric_guard {
    max_5xx_percent     = 1
    max_response_time   = "800ms"
    max_unhealthy_hosts = 0
    window              = "2m"
    bake_time           = "5m"
  }

  timeouts {
    create = "30m"
    update = "30m"
  }
}
