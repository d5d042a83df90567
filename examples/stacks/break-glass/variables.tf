variable "state_bucket" {
  description = "S3 bucket holding every stack's state (ingress/'s outputs are read from it)."
  type        = string
  default     = "example-terraform-state"
}

variable "region" {
  description = "AWS region; must be vpc/'s."
  type        = string
  default     = "eu-west-1"
}

variable "shard" {
  description = "The shard to act on: its name in ingress/'s target_group_arns, and its EKS cluster."
  type        = string
}

variable "contact" {
  description = "Who drains, recorded with the drain and shown to whoever the fleet guard refuses because of it."
  type        = string
  default     = "oncall"
}

variable "override_reason" {
  description = "Break glass past the fleet guard (a second shard out): the incident and why. Null keeps the guard."
  type        = string
  default     = null
}

variable "restore_weight" {
  description = "The weight shard_restore goes back to (the shard directory's declared weight)."
  type        = number
  default     = 50
}

variable "namespace" {
  description = "Namespace of the shard's Rollout."
  type        = string
  default     = "app"
}

variable "rollout" {
  description = "Name of the shard's Rollout."
  type        = string
  default     = "app"
}
