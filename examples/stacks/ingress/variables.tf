variable "state_bucket" {
  description = "S3 bucket holding every stack's state (read here for vpc/'s outputs)."
  type        = string
  default     = "example-terraform-state"
}

variable "region" {
  description = "AWS region; must be vpc/'s."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name of the shared ALB."
  type        = string
  default     = "shards"

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,32}$", var.name))
    error_message = "An ALB name is 1 to 32 letters, digits and hyphens."
  }
}

variable "shards" {
  description = <<-EOT
    One target group per shard, keyed by shard name (shard-1, shard-2, ...). `initial_weight` is
    the weight the listener starts with when this stack creates it; after that each shard/
    directory owns its weight with shard_weight, and this stack never changes weights again
    (the listener ignores changes to its default action). To add a shard, add it here first:
    its target group is created, and shard-N/ joins it to the listener at weight 0.
  EOT
  type = map(object({
    initial_weight = optional(number, 0)
  }))
  default = {
    "shard-1" = { initial_weight = 50 }
    "shard-2" = { initial_weight = 50 }
  }

  validation {
    condition     = length(var.shards) >= 1 && length(var.shards) <= 5
    error_message = "An ALB forward action takes 1 to 5 target groups: give 1 to 5 shards (more cells need one ALB per group of 5 behind DNS)."
  }

  validation {
    condition     = alltrue([for s in values(var.shards) : s.initial_weight >= 0 && s.initial_weight <= 999])
    error_message = "initial_weight is 0..999 (the ALB's range for target group weights)."
  }
}

variable "certificate_arn" {
  description = "ACM certificate for an HTTPS listener. Null serves plain HTTP on port 80 (for trying things out only)."
  type        = string
  default     = null
}

variable "lock_priority" {
  description = "The listener rule priority shard_weight's lock uses (the provider's lock_priority); this stack keeps it free and gives its own rules explicit, lower priorities."
  type        = number
  default     = 50000
}
