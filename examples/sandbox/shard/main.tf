# The sandbox's variant of a shard-N/ stack (examples/stacks/shard-1/): the same module and so
# the same resources, with the provider pointed at local endpoints instead of AWS. `make sandbox`
# copies this directory once per shard (one directory and one state each, as real stacks have),
# next to a copy of ../../stacks/modules/shard-delivery, and writes terraform.tfvars.json for
# each stage of the story.
#
# What is local: moto stands in for ELBv2, EKS, STS, CloudWatch and Route 53 (its EKS clusters' endpoints
# are the sandbox's kube-apiservers; its CloudWatch holds the metrics the sandbox's ALB stand-in
# publishes); the hub and the shard clusters are real kube-apiservers that accept EKS tokens, as
# EKS does. What the real stack has and this one has not: the EKS cluster itself
# (module "cluster", hashicorp/aws), seeded by the sandbox instead, and the S3 backend.
#
# Next to the module, this shard's weighted DNS record (shard_dns_weight) for the name every shard
# shares: the DNS view of the same traffic split, for when cells sit behind their own ALBs. Its
# weight is the listener entry's (0 in maintenance), so the two agree after every apply.
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

variable "route53_endpoint" {
  description = "moto's Route 53, through the Route 53 realism proxy (PENDING changes, throttling)."
  type        = string
}

variable "dns_zone_id" {
  description = "The shared public hosted zone (seeded by the sandbox: sandbox.example.com)."
  type        = string
}

variable "dns_name" {
  description = "The name every shard shares a weighted record of."
  type        = string
  default     = "api.sandbox.example.com"
}

variable "dns_address" {
  description = "What this shard's record answers with: its own (made-up) load balancer address."
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
    route53    = var.route53_endpoint
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

# This shard's weighted record, at the listener entry's weight (Route 53 takes 0..255; the sandbox
# uses 50). It reads module.delivery.weight, so it is written after shard_weight (and what that
# waits for) succeeded: a ramp the metric guard stops fails the apply before DNS sends the shard
# anything, and a break-glass `-target=shard_dns_weight.this` pulls in only shard_weight's own
# dependencies. Plain records with a 1 s TTL and no extra drain delay keep the sandbox fast: a
# drain waits INSYNC, then the TTL (an alias to an ALB would wait its 60 s TTL). moto resolves
# nothing, so that wait is only the provider's.
resource "shard_dns_weight" "this" {
  zone_id        = var.dns_zone_id
  name           = var.dns_name
  type           = "A"
  set_identifier = var.name
  weight         = module.delivery.weight
  records        = [var.dns_address]
  ttl            = 1
  drain_delay    = "0s"
}

output "weight" {
  value = module.delivery.weight
}

output "dns_weight" {
  value = shard_dns_weight.this.weight
}

output "dns_traffic_share" {
  value = shard_dns_weight.this.traffic_share
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
