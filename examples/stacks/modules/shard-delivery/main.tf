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
# the gates are created again and must hold (each waits for its Rollout's target) before the
# weight returns, through shard_weight's health gate. The registration does not change on a
# maintenance toggle, so it does not wait then: the gates and the health gate are the waits.
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

  # Destroy in Argo CD's order (see the resource docs); false leaves the workload behind.
  wait_for_removal = var.argocd.wait_for_removal

  # The cluster generator exposes the Secret's annotations to the ApplicationSet template
  # (metadata.annotations.<key>, https://argo-cd.readthedocs.io/en/stable/operator-manual/applicationset/Generators-Cluster/),
  # so the workload learns its shard's target group here and writes it into its
  # TargetGroupBinding (examples/stacks/workload/). Nothing else has to know the ARN.
  annotations = merge(var.argocd.annotations, {
    (local.target_group_annotation) = var.target_group_arn
  })

  wait_for_sync {
    min_applications = var.argocd.min_applications
    application_sets = var.argocd.application_sets
    timeout          = var.argocd.sync_timeout
    # Argo CD reports an Application whose Rollout is paused at a canary step as Suspended
    # (resource_customizations/argoproj.io/Rollout/health.lua); the Rollout's progress is the
    # gates' business, so the registration accepts it (as `argocd app wait --suspended`).
    accept_suspended = var.argocd.accept_suspended
  }
}

locals {
  # The annotation the ApplicationSet template reads the target group ARN from.
  target_group_annotation = "shardkit.io/target-group-arn"
}

resource "shard_rollout_gate" "this" {
  for_each = var.maintenance ? {} : var.rollouts

  namespace       = each.value.namespace
  name            = each.value.name
  promote_to_step = each.value.promote_to_step
  promote_full    = each.value.promote_full ? true : null

  # What the runbook tells operators to decide per Rollout (docs/resources/rollout_gate.md).
  abort_on_failure     = each.value.abort_on_failure
  retry_aborted        = each.value.retry_aborted
  promote_inconclusive = each.value.promote_inconclusive
  lift_manual_pause    = each.value.lift_manual_pause

  cluster {
    eks_cluster_name = var.eks_cluster_name
  }

  timeouts {
    create = each.value.timeout
    update = each.value.timeout
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

  timeouts {
    create = var.weight_timeout
    update = var.weight_timeout
    delete = var.weight_timeout
  }

  dynamic "fleet_guard" {
    for_each = var.fleet_guard == null ? [] : [var.fleet_guard]
    content {
      min_serving     = fleet_guard.value.min_serving
      max_drained     = fleet_guard.value.max_drained
      contact         = fleet_guard.value.contact
      override_reason = fleet_guard.value.override_reason
    }
  }

  dynamic "metric_guard" {
    for_each = var.metric_guard == null ? [] : [var.metric_guard]
    content {
      max_5xx_percent          = metric_guard.value.max_5xx_percent
      max_response_time        = metric_guard.value.max_response_time
      response_time_percentile = metric_guard.value.response_time_percentile
      max_unhealthy_hosts      = metric_guard.value.max_unhealthy_hosts
      window                   = metric_guard.value.window
      bake_time                = metric_guard.value.bake_time
      check_interval           = metric_guard.value.check_interval
      on_breach                = metric_guard.value.on_breach
    }
  }

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
