# Put shard-2 back after the incident, in steps judged by its own metrics:
#   terraform apply -invoke=action.shard_restore.shard_2
action "shard_restore" "shard_2" {
  config {
    listener_arn     = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/edge/50dc6c495c0c9188/f2f7dc8efc522ab2"
    target_group_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shard-2/73e2d6bc24d8a067"
    weight           = 100
    timeout          = "45m"

    ramp {
      step     = 25
      interval = "2m"
    }

    metric_guard {
      max_5xx_percent = 1
      bake_time       = "5m"
    }
  }
}
