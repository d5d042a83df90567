# shard-N/: one shard. Its EKS cluster, its registration with the Argo CD hub (which then syncs
# the service to it), its Rollouts' release gates, and its weight on the shared listener.
# Everything but the cluster is one module call (../modules/shard-delivery), in this order:
# registered and synced -> Rollouts at their gates -> traffic.

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

module "cluster" {
  source = "../modules/eks-cluster"

  name               = var.name
  kubernetes_version = var.kubernetes_version
  subnet_ids         = data.terraform_remote_state.vpc.outputs.private_subnet_ids
  cluster_admins = {
    argocd    = data.terraform_remote_state.argo.outputs.shard_access_role_arn
    terraform = var.terraform_principal_arn
  }
}

module "delivery" {
  source = "../modules/shard-delivery"

  name             = var.name
  eks_cluster_name = module.cluster.name # known once the nodes and access entries exist

  listener_arn     = data.terraform_remote_state.ingress.outputs.listener_arn
  target_group_arn = data.terraform_remote_state.ingress.outputs.target_group_arns[var.name]
  weight           = var.weight
  maintenance      = var.maintenance
  drain_delay      = "45s" # more than the target group's 30 s deregistration delay
  ramp             = { step = 10, interval = "30s" }

  argocd = {
    role_arn         = data.terraform_remote_state.argo.outputs.shard_access_role_arn
    labels           = { fleet = data.terraform_remote_state.argo.outputs.fleet_label, shard = var.name }
    min_applications = 1
  }

  rollouts = var.rollouts
}
