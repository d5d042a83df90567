terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0" # v5 and v6 (modules/eks-cluster/versions.tf)
    }
  }

  # Every stack keeps its own state; the later stacks read this one's outputs.
  backend "s3" {
    bucket       = "example-terraform-state"
    key          = "shards/ingress.tfstate"
    region       = "eu-west-1"
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region

  # shard_weight's fleet guard records a drain as tags on the drained target group; without
  # this, the next apply of this stack would remove them (and plan to, while a shard is out).
  ignore_tags {
    key_prefixes = ["terraform-provider-shard:"]
  }
}
