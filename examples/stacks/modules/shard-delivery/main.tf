# Everything terraform-provider-shard does for one shard, in the order a release needs:
#
#   1. registration  the shard joins Argo CD (a cluster Secret on the hub); the apply waits until
#                    the Applications generated for it are Synced and Healthy;
#   2. rollout gates each gated Rollout on the shard's own cluster reaches its step (or full
#                    promotion, or Healthy);
#   3. weight        only then does the shard take its share of traffic on the shared listener.
#
# maintenance = true drains the shard (weight 0, then drain_delay) and lifts the gates, so a
# drain never waits on a Rollout (destroying a gate touches nothing on the cluster). The runbook:
# apply with maintenance = true (drained), upgrade in the next apply, then maintenance = false:
# the gates come back and must hold before the weight returns.
#
# The caller configures the provider: its `hub` block is the Argo CD hub, its AWS settings reach
# the shard's EKS cluster and the shared ALB.

resource "shard_argocd_cluster_registration" "this" {
  name             = var.name
  eks_cluster_name = var.eks_cluster_name # server and CA from eks:DescribeCluster

  aws_auth {
    role_arn = var.argocd.role_arn # null: Argo CD's own identity
  }

  labels = var.argocd.labels

  wait_for_sync {
    min_applications = var.argocd.min_applications
    timeout          = var.argocd.sync_timeout
  }
}

resource "shard_rollout_gate" "this" {
  for_each = var.maintenance ? {} : var.rollouts

  namespace       = each.value.namespace
  name            = each.value.name
  promote_to_step = each.value.promote_to_step
  promote_full    = each.value.promote_full ? true : null

  cluster {
    eks_cluster_name = var.eks_cluster_name
  }

  # The workload (these Rollouts) exists once Argo CD has synced it.
  depends_on = [shard_argocd_cluster_registration.this]
}

resource "shard_weight" "this" {
  listener_arn        = var.listener_arn
  target_group_arn    = var.target_group_arn
  weight              = var.maintenance ? 0 : var.weight
  drain_delay         = var.drain_delay
  min_healthy_targets = var.min_healthy_targets

  dynamic "ramp" {
    for_each = var.ramp == null ? [] : [var.ramp]
    content {
      step     = ramp.value.step
      interval = ramp.value.interval
    }
  }

  # Traffic only to a shard that is registered, synced and whose Rollouts are at their gates.
  depends_on = [
    shard_argocd_cluster_registration.this,
    shard_rollout_gate.this,
  ]
}
