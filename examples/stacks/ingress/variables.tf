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
    One target group per shard, by shard name (shard-1, shard-2, ...). Each joins the listener at
    weight 0: the shard's own directory raises its weight with shard_weight, after its health
    gate, and this stack never changes weights (the listener ignores changes to its default
    action). To add a shard, add it here first: its target group is created, and shard-N/
    joins it to the listener.
  EOT
  type        = set(string)
  default     = ["shard-1", "shard-2"]

  validation {
    condition     = length(var.shards) >= 1 && length(var.shards) <= 5
    error_message = "An ALB forward action takes 1 to 5 target groups: give 1 to 5 shards (more cells need one ALB per group of 5 behind DNS)."
  }
}

variable "domain_name" {
  description = "The service's DNS name: an alias record to the ALB and the name of its ACM certificate."
  type        = string
  default     = "api.example.com"
}

variable "zone_id" {
  description = "The Route 53 hosted zone of domain_name (the alias record and the certificate's DNS validation)."
  type        = string
}

variable "serving_port" {
  description = "The port the pods serve on (the target groups' port; each shard admits the ALB's security group on it)."
  type        = number
  default     = 8080
}

variable "deregistration_delay" {
  description = "Seconds the ALB lets a deregistered target finish its requests. shard_weight's drain_delay and the pods' preStop sleep must exceed it."
  type        = number
  default     = 30
}

variable "target_5xx_threshold" {
  description = "5XX answers from one shard's targets per minute, 3 minutes running, that raise its alarm."
  type        = number
  default     = 10
}

variable "lock_priority" {
  description = "The listener rule priority shard_weight's lock uses (the provider's lock_priority); this stack keeps it free and gives its own rules explicit, lower priorities."
  type        = number
  default     = 50000
}
