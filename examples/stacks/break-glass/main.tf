# break-glass/: incident actions for one shard, kept apart from the shard's own directory so they
# run while its other resources cannot be refreshed (a sick hub, an unreachable shard). Nothing
# here has state: each action changes the listener or a Rollout now, and the shard directory's
# next plan shows what changed (see examples/RUNBOOK.md, "When something goes wrong").
#
#   terraform apply -var shard=shard-2 -invoke=action.shard_drain.shard
#   terraform apply -var shard=shard-2 -invoke=action.shard_rollout_abort.release
#
# Needs Terraform 1.14 or later (action blocks).

data "terraform_remote_state" "ingress" {
  backend = "s3"
  config  = { bucket = var.state_bucket, key = "shards/ingress.tfstate", region = var.region }
}

locals {
  ingress          = data.terraform_remote_state.ingress.outputs
  target_group_arn = local.ingress.target_group_arns[var.shard]
}

# Out of traffic now: weight 0 under the listener lock, the fleet guard checked at plan and under
# the lock, then the drain delay (more than the target group's deregistration delay).
action "shard_drain" "shard" {
  config {
    listener_arn     = local.ingress.listener_arn
    target_group_arn = local.target_group_arn
    drain_delay      = "45s"

    fleet_guard {
      max_drained     = 1
      contact         = var.contact
      override_reason = var.override_reason
    }
  }
}

# Back after the incident: health-gated, in steps, judged by the shard's own ALB metrics.
action "shard_restore" "shard" {
  config {
    listener_arn     = local.ingress.listener_arn
    target_group_arn = local.target_group_arn
    weight           = var.restore_weight
    timeout          = "45m"

    ramp {
      step     = 10
      interval = "2m"
    }

    metric_guard {
      max_5xx_percent   = 1
      max_response_time = "1s"
      window            = "2m"
      bake_time         = "5m"
    }
  }
}

# The shard's release: the `kubectl argo rollouts` verbs, with the CLI's patches.
action "shard_rollout_abort" "release" {
  config {
    namespace = var.namespace
    name      = var.rollout

    cluster {
      eks_cluster_name = var.shard
    }
  }
}

action "shard_rollout_retry" "release" {
  config {
    namespace = var.namespace
    name      = var.rollout

    cluster {
      eks_cluster_name = var.shard
    }
  }
}

action "shard_rollout_promote" "release" {
  config {
    namespace = var.namespace
    name      = var.rollout

    cluster {
      eks_cluster_name = var.shard
    }
  }
}
