terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0" # v5 and v6 (modules/eks-cluster/versions.tf)
    }
    shard = {
      source  = "shardkit/shard"
      version = ">= 0.1.0, < 1.0.0"
    }
  }

  # One state per shard: shard directories apply independently, at the same time if need be.
  backend "s3" {
    bucket       = "example-terraform-state"
    key          = "shards/shard-1.tfstate"
    region       = "eu-west-1"
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region
}

provider "shard" {
  region = var.region

  # The Argo CD hub, where this shard registers itself.
  hub {
    eks_cluster_name = data.terraform_remote_state.argo.outputs.hub_cluster_name
  }
}
