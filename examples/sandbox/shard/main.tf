# One shard's directory in the sandbox: its weight on the shared listener.
terraform {
  required_providers {
    shard = { source = "shardkit/shard" }
  }
}

variable "aws_endpoint" { type = string }
variable "listener_arn" { type = string }
variable "target_group_arn" { type = string }
variable "weight" { type = number }
variable "ramp_step" {
  type    = number
  default = 0
}

provider "shard" {
  region = "us-east-1"
  endpoints {
    elbv2 = var.aws_endpoint
  }
}

resource "shard_weight" "this" {
  listener_arn     = var.listener_arn
  target_group_arn = var.target_group_arn
  weight           = var.weight
  drain_delay      = "1s"

  dynamic "ramp" {
    for_each = var.ramp_step > 0 ? [1] : []
    content {
      step     = var.ramp_step
      interval = "1s"
    }
  }
}
