# shard-N/: one shard. Its EKS cluster, its registration with the Argo CD hub (which then syncs
# the AWS Load Balancer Controller and the service to it), its Rollouts' release gates, and its
# weight on the shared listener. Everything but the cluster is one module call
# (../modules/shard-delivery), in this order: registered and synced -> Rollouts at their gates
# -> traffic. A new shard directory: ../new-shard.sh (never a plain copy: see examples/RUNBOOK.md).

locals {
  remote = { for stack in ["vpc", "ingress", "argo-cluster"] : stack => "shards/${stack}.tfstate" }
}

data "terraform_remote_state" "vpc" {
  backend = "s3"
  config  = { bucket = var.state_bucket, key = local.remote["vpc"], region = var.region }
}

data "terraform_remote_state" "ingress" {
  backend = "s3"
  config  = { bucket = var.state_bucket, key = local.remote["ingress"], region = var.region }
}

data "terraform_remote_state" "argo" {
  backend = "s3"
  config  = { bucket = var.state_bucket, key = local.remote["argo-cluster"], region = var.region }
}

locals {
  ingress          = data.terraform_remote_state.ingress.outputs
  argo             = data.terraform_remote_state.argo.outputs
  target_group_arn = local.ingress.target_group_arns[var.name]

  # The listener as it is now (read at plan time): this shard's weight and the others'.
  entries     = data.shard_listener.shared.target_groups
  live_weight = try(one([for tg in local.entries : tg.weight if tg.arn == local.target_group_arn]), 0)
  others      = [for tg in local.entries : tg if tg.arn != local.target_group_arn && tg.weight > 0]
}

data "shard_listener" "shared" {
  listener_arn = local.ingress.listener_arn
}

module "cluster" {
  source = "../modules/eks-cluster"

  name               = var.name
  kubernetes_version = var.kubernetes_version
  node_count         = var.node_count
  subnet_ids         = data.terraform_remote_state.vpc.outputs.private_subnet_ids
  cluster_admins = {
    argocd    = local.argo.shard_access_role_arn
    terraform = var.terraform_principal_arn
  }
  cluster_viewers = var.plan_principal_arn == null ? {} : { plan = var.plan_principal_arn }

  # Drain first: a version or node change is refused unless this shard is in maintenance AND
  # its weight on the listener is already 0 (a previous apply drained it).
  serving = !(var.maintenance && local.live_weight == 0)

  # The shared ALB reaches the pods; the hub's Argo CD reaches the API server.
  pod_ingress                    = { security_group_id = local.ingress.alb_security_group_id, port = local.ingress.serving_port }
  api_ingress_security_group_ids = { argocd-hub = local.argo.cluster_security_group_id }
  load_balancer_controller       = { target_group_arns = [local.target_group_arn] }
}

module "delivery" {
  source = "../modules/shard-delivery"

  name             = var.name
  eks_cluster_name = module.cluster.name # known once nodes, add-ons, network rules and access exist

  listener_arn        = local.ingress.listener_arn
  target_group_arn    = local.target_group_arn
  weight              = var.weight
  maintenance         = var.maintenance
  min_healthy_targets = 2
  # Longer than the target group's deregistration delay, so in-flight requests finish before the
  # next apply (the upgrade) starts; no stickiness (ingress/), so nothing else holds clients.
  drain_delay = "${local.ingress.deregistration_delay + 15}s"
  # Back into traffic step by step, each step judged by this shard's own ALB metrics (ALB
  # publishes per minute: steps of 2 minutes over a 2-minute window), then 5 minutes at 50.
  ramp         = { step = 10, interval = "2m" }
  metric_guard = var.metric_guard
  # One shard out at a time across the fleet, decided under the listener lock; whoever is
  # refused learns which shard is out, since when and who drained it.
  fleet_guard = {
    max_drained     = var.max_drained
    contact         = var.drain_contact
    override_reason = var.drain_override_reason
  }
  weight_timeout = "30m" # 5 steps of 2 min to 50, the bake, and the health gate

  argocd = {
    role_arn = local.argo.shard_access_role_arn
    labels   = { fleet = local.argo.fleet_label, shard = var.name }
    # Read by the ApplicationSets' templates (argo-cluster/): the controller's region and VPC.
    annotations = {
      "shardkit.io/region" = var.region
      "shardkit.io/vpc-id" = data.terraform_remote_state.vpc.outputs.vpc_id
    }
    min_applications = length(local.argo.application_sets)
    application_sets = local.argo.application_sets
  }

  rollouts = var.rollouts
}

# Capacity before a drain: the shards left serving must carry this shard's share. The check is
# the one an operator would make by hand: they have at least capacity_targets healthy targets
# between them (size node_count and the workload's HPA maxReplicas so that N-1 shards carry the
# peak). Skipped for a break-glass drain with skip_capacity_check = true.
resource "terraform_data" "capacity_before_drain" {
  input = var.maintenance

  lifecycle {
    precondition {
      condition = (
        !var.maintenance || local.live_weight == 0 || var.skip_capacity_check ||
        sum(concat([0], [for tg in local.others : tg.healthy_targets])) >= var.capacity_targets
      )
      error_message = "Draining ${var.name} would leave ${sum(concat([0], [for tg in local.others : tg.healthy_targets]))} healthy targets in the other serving shards, fewer than capacity_targets = ${var.capacity_targets}. Scale the others first (examples/RUNBOOK.md, section 2), or set skip_capacity_check = true for a break-glass drain."
    }
  }
}
