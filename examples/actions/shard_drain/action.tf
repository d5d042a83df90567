# Break glass: take shard-2 out of traffic now, without planning (or refreshing) anything else:
#   terraform apply -invoke=action.shard_drain.shard_2
# The shard_weight that owns the entry shows `weight 0 -> N` at its next plan: set its weight to 0
# there too (or apply it to put the shard back).
action "shard_drain" "shard_2" {
  config {
    listener_arn     = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/edge/50dc6c495c0c9188/f2f7dc8efc522ab2"
    target_group_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shard-2/73e2d6bc24d8a067"
    drain_delay      = "30s"

    fleet_guard {
      min_serving = 1
      max_drained = 1
      contact     = "team-payments oncall"
    }
  }
}
