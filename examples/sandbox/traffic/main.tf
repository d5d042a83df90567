# The sandbox's traffic read-out: how the shared listener splits traffic across shards.
terraform {
  required_providers {
    shard = { source = "shardkit/shard" }
  }
}

variable "aws_endpoint" { type = string }
variable "listener_arn" { type = string }

provider "shard" {
  region = "us-east-1"
  endpoints {
    elbv2 = var.aws_endpoint
    eks   = var.aws_endpoint
    sts   = var.aws_endpoint
  }
}

data "shard_listener" "shared" {
  listener_arn = var.listener_arn
}

output "weights" {
  value = {
    for tg in data.shard_listener.shared.target_groups :
    element(split("/", tg.arn), 1) => "weight ${tg.weight}, ${tg.healthy_targets} healthy"
  }
}

output "total_weight" {
  value = data.shard_listener.shared.total_weight
}
