# The sandbox's variant of a shard-N/ stack (examples/stacks/shard-1/): the same module and so
# the same resources, with the provider pointed at local endpoints instead of AWS. `make sandbox`
# copies this directory once per shard (one directory and one state each, as real stacks have),
# next to a copy of ../../stacks/modules/shard-delivery, and writes terraform.tfvars.json for
# each stage of the story.
#
# What is local: moto stands in for ELBv2, EKS, STS and CloudWatch (its EKS clusters' endpoints
# are the sandbox's kube-apiservers; its CloudWatch holds the metrics the sandbox's ALB stand-in
# publishes); the hub and the shard clusters are real kube-apiservers that accept EKS tokens, as
# EKS does. What the real stack has and this one has not: the EKS cluster itself
# (module "cluster", hashicorp/aws), seeded by the sandbox instead, and the S3 backend.
terraform {
  required_version = ">= 1.10"

  required_providers {
    shard = { source = "shardkit/shard" }
  }
}

variable "aws_endpoint" {
  description = "moto (through the AWS-realism proxy): ELBv2, EKS, STS and CloudWatch."
  type        = string
}

variable "hub_cluster_name" {
  description = "The Argo CD hub's EKS cluster (in moto, its endpoint the sandbox's hub API server)."
  type        = string
}

variable "name" {
  description = "This shard's name: its EKS cluster and its Argo CD cluster name."
  type        = string
}

variable "listener_arn" {
  type = string
}

variable "target_group_arn" {
  type = string
}

variable "weight" {
  type    = number
  default = 50
}

variable "maintenance" {
  type    = bool
  default = false
}

variable "fleet_label" {
  description = "The label the seeded ApplicationSet selects cluster Secrets by (argo-cluster/'s fleet_label)."
  type        = string
  default     = "service"
}

variable "ramp_interval" {
  description = "The ramp's interval (the real stacks: 30s). Longer where the metric guard judges each step: the data plane publishes its metrics every second."
  type        = string
  default     = "1s"
}

variable "metric_guard" {
  description = "shard_weight's metric guard (the module's metric_guard; null: none). The sandbox's guarded restore sets it, in scaled time."
  type = object({
    max_5xx_percent          = optional(number)
    max_response_time        = optional(string)
    response_time_percentile = optional(string, "p99")
    max_unhealthy_hosts      = optional(number)
    window                   = optional(string, "1m")
    bake_time                = optional(string, "0s")
    check_interval           = optional(string, "30s")
    on_breach                = optional(string, "previous")
  })
  default = null
}

variable "rollouts" {
  description = "The module's rollouts (its defaults: abort_on_failure = true, timeout = \"30m\")."
  type = map(object({
    namespace            = string
    name                 = string
    promote_to_step      = optional(number)
    promote_full         = optional(bool, false)
    abort_on_failure     = optional(bool, true)
    retry_aborted        = optional(bool, false)
    promote_inconclusive = optional(bool, false)
    lift_manual_pause    = optional(bool, false)
    timeout              = optional(string, "2m")
  }))
  default = {}
}

provider "shard" {
  region = "us-east-1"

  endpoints {
    elbv2      = var.aws_endpoint
    eks        = var.aws_endpoint
    sts        = var.aws_endpoint
    cloudwatch = var.aws_endpoint
  }

  hub {
    eks_cluster_name = var.hub_cluster_name
  }
}

module "delivery" {
  source = "../../stacks/modules/shard-delivery"

  name             = var.name
  eks_cluster_name = var.name

  listener_arn     = var.listener_arn
  target_group_arn = var.target_group_arn
  weight           = var.weight
  maintenance      = var.maintenance

  # Sandbox timings (the real stacks: 45s and 10 every 30s).
  drain_delay = "2s"
  ramp        = { step = 25, interval = var.ramp_interval }

  metric_guard = var.metric_guard

  weight_timeout = "2m"

  argocd = {
    role_arn         = "arn:aws:iam::123456789012:role/argocd-shard-access"
    labels           = { fleet = var.fleet_label, shard = var.name }
    application_sets = ["service"]
    sync_timeout     = "2m"
  }

  rollouts = var.rollouts
}

output "weight" {
  value = module.delivery.weight
}

output "argocd_cluster_name" {
  value = module.delivery.argocd_cluster_name
}

output "argocd_applications" {
  value = module.delivery.argocd_applications
}

output "rollouts" {
  value = module.delivery.rollouts
}
