variable "state_bucket" {
  description = "S3 bucket holding every stack's state (read here for vpc/, ingress/ and argo-cluster/)."
  type        = string
  default     = "example-terraform-state"
}

variable "region" {
  description = "AWS region; must be vpc/'s."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "This shard's name: its EKS cluster, its Argo CD cluster name and its key in ingress/'s target_group_arns."
  type        = string
}

variable "kubernetes_version" {
  description = "The shard's Kubernetes minor version. Upgrade with maintenance = true (see examples/RUNBOOK.md)."
  type        = string
}

variable "terraform_principal_arn" {
  description = "The IAM role CI runs Terraform as: it gets cluster-admin here to gate the shard's Rollouts."
  type        = string
}

variable "plan_principal_arn" {
  description = "The read-only IAM role CI plans pull requests with (examples/stacks/CI.md), or null: it may read this cluster (view, which includes Argo Rollouts' rollouts) and nothing else."
  type        = string
  default     = null
}

variable "weight" {
  description = "This shard's share of traffic on the shared listener when it is serving, 0..999, relative to the other shards' weights."
  type        = number
  default     = 50

  validation {
    condition     = var.weight >= 0 && var.weight <= 999 && floor(var.weight) == var.weight
    error_message = "weight is a whole number 0..999 (the ALB's range for target group weights)."
  }
}

variable "maintenance" {
  description = "true takes this shard out of traffic (weight 0 after a drain delay) for an upgrade or other maintenance; false brings it back once its workload is synced and its Rollouts are where they are gated."
  type        = bool
  default     = false
}

variable "rollouts" {
  description = "Release gates for this shard's Argo Rollouts, by a short key (modules/shard-delivery's rollouts). Between releases every gate holds new revisions at the first pause: promote_to_step = 1."
  type = map(object({
    namespace            = string
    name                 = string
    promote_to_step      = optional(number)
    promote_full         = optional(bool, false)
    abort_on_failure     = optional(bool, true)
    retry_aborted        = optional(bool, false)
    promote_inconclusive = optional(bool, false)
    lift_manual_pause    = optional(bool, false)
    timeout              = optional(string, "30m")
  }))
  default = {}
}

variable "node_count" {
  description = "The shard's node group size. Sized so that the other shards carry this one's load during its drain."
  type = object({
    desired = number
    min     = number
    max     = number
  })
  default = { desired = 3, min = 2, max = 6 }
}

variable "capacity_targets" {
  description = "Healthy targets (pods) the fleet needs to carry the peak: a drain is refused while the other serving shards have fewer between them."
  type        = number
  default     = 6
}

variable "skip_capacity_check" {
  description = "Break-glass only: drain even if the other shards lack capacity_targets (examples/RUNBOOK.md, 'When something goes wrong')."
  type        = bool
  default     = false
}

variable "max_drained" {
  description = "Shards of the listener's action allowed at weight 0 at once (shard_weight's fleet_guard, checked under the listener lock). 1: one shard in maintenance at a time."
  type        = number
  default     = 1
}

variable "drain_contact" {
  description = "Who drains this shard (team, pipeline), recorded with the drain: shown to whoever is refused a drain meanwhile."
  type        = string
  default     = null
}

variable "drain_override_reason" {
  description = "Break-glass only: drain although the fleet guard refuses (another shard is already out); recorded with the drain. Remove after the incident (examples/RUNBOOK.md)."
  type        = string
  default     = null
}

variable "metric_guard" {
  description = "How a rise of this shard's weight is judged by its own ALB metrics (modules/shard-delivery, shard_weight's metric_guard); null: target health only."
  type = object({
    max_5xx_percent     = optional(number)
    max_response_time   = optional(string)
    max_unhealthy_hosts = optional(number)
    window              = optional(string, "1m")
    bake_time           = optional(string, "0s")
  })
  default = {
    max_5xx_percent     = 1
    max_response_time   = "1s"
    max_unhealthy_hosts = 0
    window              = "2m"
    bake_time           = "5m"
  }
}
