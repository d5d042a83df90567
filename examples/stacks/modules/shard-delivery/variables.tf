variable "name" {
  description = "The shard's name, e.g. \"shard-2\": its Argo CD cluster name (what ApplicationSet templates see as {{name}})."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.name)) && length(var.name) <= 63
    error_message = "name must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "eks_cluster_name" {
  description = "The shard's EKS cluster. Argo CD reaches it through its endpoint and CA (eks:DescribeCluster); the Rollout gates run against it with an EKS token the provider signs."
  type        = string

  validation {
    condition     = length(var.eks_cluster_name) > 0
    error_message = "eks_cluster_name must not be empty."
  }
}

variable "listener_arn" {
  description = "The shared ALB listener whose weighted forward action this shard takes a share of."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[^:]+:[0-9]+:listener/app/", var.listener_arn))
    error_message = "listener_arn must be the ARN of an Application Load Balancer listener (arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/...)."
  }
}

variable "target_group_arn" {
  description = "This shard's target group on the shared ALB."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[^:]+:[0-9]+:targetgroup/", var.target_group_arn))
    error_message = "target_group_arn must be a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/...)."
  }
}

variable "weight" {
  description = "The shard's serving weight in the listener's forward action, 0..999, relative to the other shards' weights. Ignored (0) while maintenance is true."
  type        = number

  validation {
    condition     = var.weight >= 0 && var.weight <= 999 && floor(var.weight) == var.weight
    error_message = "weight must be a whole number from 0 to 999 (the ALB's range for target group weights)."
  }
}

variable "maintenance" {
  description = "true drains the shard: weight 0, then wait drain_delay so in-flight requests finish. Upgrade in the next apply, then set false to bring traffic back once registration and Rollout gates hold."
  type        = bool
  default     = false
}

variable "drain_delay" {
  description = "How long an apply that lowers the weight to 0 waits afterwards, e.g. \"30s\" (at least the target group's deregistration delay)."
  type        = string
  default     = "30s"

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$", var.drain_delay))
    error_message = "drain_delay must be a duration such as \"30s\", \"1m30s\" or \"500ms\"."
  }
}

variable "ramp" {
  description = "Bring the weight up (or down) in steps of `step` every `interval` instead of at once, re-checking target health before each step up. null: one step."
  type = object({
    step     = number
    interval = string
  })
  default = null

  validation {
    condition     = var.ramp == null || try(var.ramp.step >= 1 && var.ramp.step <= 999 && floor(var.ramp.step) == var.ramp.step, false)
    error_message = "ramp.step must be a whole number from 1 to 999."
  }

  validation {
    condition     = var.ramp == null || can(regex("^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$", try(var.ramp.interval, "")))
    error_message = "ramp.interval must be a duration such as \"30s\"."
  }
}

variable "min_healthy_targets" {
  description = "Healthy targets the shard's target group needs before its weight is raised from 0 (and before each ramp step up). 0 disables the check."
  type        = number
  default     = 1

  validation {
    condition     = var.min_healthy_targets >= 0 && floor(var.min_healthy_targets) == var.min_healthy_targets
    error_message = "min_healthy_targets must be a whole number, 0 or more."
  }
}

variable "argocd" {
  description = <<-EOT
    The shard's registration with the Argo CD hub (the provider's hub block):
    role_arn: the IAM role Argo CD assumes to reach the cluster (null: Argo CD's own identity);
    labels: labels of the cluster Secret, which ApplicationSet cluster generators select on;
    annotations: more annotations of the cluster Secret (the module adds shardkit.io/target-group-arn);
    min_applications: Applications that must target the shard, all Synced and Healthy, before the apply goes on;
    application_sets: ApplicationSets each of which must have generated an Application for the shard;
    accept_suspended: count Suspended (a Rollout paused at a canary step) as ready (default true:
      the rollout gates, not the registration, decide how far a canary goes);
    wait_for_removal: on destroy, take the shard out of the generators and wait until its
      Applications (and their workload) are gone before deleting the cluster Secret (default true;
      false leaves the workload behind knowingly);
    sync_timeout: how long to wait for that.
  EOT
  type = object({
    role_arn         = optional(string)
    labels           = optional(map(string), {})
    annotations      = optional(map(string), {})
    min_applications = optional(number, 1)
    application_sets = optional(list(string), [])
    accept_suspended = optional(bool, true)
    wait_for_removal = optional(bool, true)
    sync_timeout     = optional(string, "10m")
  })

  validation {
    condition     = var.argocd.min_applications >= 0 && floor(var.argocd.min_applications) == var.argocd.min_applications
    error_message = "argocd.min_applications must be a whole number, 0 or more."
  }

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$", var.argocd.sync_timeout))
    error_message = "argocd.sync_timeout must be a duration such as \"10m\"."
  }
}

variable "rollouts" {
  description = <<-EOT
    Release gates for the shard's Argo Rollouts, by a short key. Each entry is one
    shard_rollout_gate on the shard's cluster: promote_to_step lets a canary go to that step
    (0-based), promote_full promotes it fully; neither waits until it is Healthy and fully promoted.
    The steady state between releases is promote_to_step = 1 (a new revision stops at its first
    pause): promote_full is for the one apply that finishes a release, never left in place
    (examples/RUNBOOK.md, section 3).
    abort_on_failure (default true): a Degraded Rollout, or a gate timing out while its revision
    progresses, is aborted (traffic back to stable) before the apply fails;
    retry_aborted, promote_inconclusive, lift_manual_pause (default false): the decisions the
    runbook leaves to a reviewed change (docs/resources/rollout_gate.md);
    timeout: the gate's create and update timeout (default "30m": longer than the bake time of
    any timed pause).
  EOT
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

  validation {
    condition     = alltrue([for r in values(var.rollouts) : !(r.promote_to_step != null && r.promote_full)])
    error_message = "A rollout gate takes promote_to_step or promote_full, not both."
  }

  validation {
    condition     = alltrue([for r in values(var.rollouts) : r.promote_to_step == null || try(r.promote_to_step >= 0 && floor(r.promote_to_step) == r.promote_to_step, false)])
    error_message = "promote_to_step must be a whole number, 0 or more."
  }

  validation {
    condition     = alltrue([for r in values(var.rollouts) : can(regex("^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$", r.timeout))])
    error_message = "A rollout's timeout must be a duration such as \"30m\"."
  }
}

variable "fleet_guard" {
  description = "shard_weight's fleet guard for a drain (docs/resources/weight.md): at least min_serving other shards keep serving with a healthy target, and at most max_drained shards are at weight 0 at once. Checked at plan and again under the listener lock, so two directories draining at the same time cannot both pass; the refusal names the drained shards, since when and by whom (contact). override_reason: break glass. null: only the all-zero check."
  type = object({
    min_serving     = optional(number, 1)
    max_drained     = optional(number)
    contact         = optional(string)
    override_reason = optional(string)
  })
  default = null
}

variable "metric_guard" {
  description = "shard_weight's metric guard for a rise (docs/resources/weight.md): the target group's own ALB metrics are judged after each ramp step and through bake_time; a breach steps back to the last good weight and fails the apply. null: target health only."
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

variable "weight_timeout" {
  description = "shard_weight's create, update and delete timeout: bounds the wait for healthy targets, the ramp and the wait for the listener lock, e.g. \"15m\" (longer than the ramp: (weight / step) x interval)."
  type        = string
  default     = "15m"

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$", var.weight_timeout))
    error_message = "weight_timeout must be a duration such as \"15m\"."
  }
}
