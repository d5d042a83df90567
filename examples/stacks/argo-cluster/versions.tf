terraform {
  required_version = ">= 1.10" # ephemeral shard_eks_token configures the helm provider

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0" # v5 and v6 (modules/eks-cluster/versions.tf)
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.0"
    }
    shard = {
      source  = "shardkit/shard"
      version = ">= 0.1.0, < 1.0.0"
    }
  }

  backend "s3" {
    bucket       = "example-terraform-state"
    key          = "shards/argo-cluster.tfstate"
    region       = "eu-west-1"
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region
}

provider "shard" {
  region = var.region
}

# The hub's endpoint, CA and a short-lived token, without the aws CLI and without a token in
# state or plan (an ephemeral resource). No kubernetes provider: everything on the hub is a
# Helm release, so nothing needs the hub's CRDs at plan time.
data "shard_eks_cluster" "hub" {
  name = module.hub.name
}

ephemeral "shard_eks_token" "hub" {
  cluster_name = data.shard_eks_cluster.hub.name
}

provider "helm" {
  kubernetes = {
    host                   = data.shard_eks_cluster.hub.endpoint
    cluster_ca_certificate = data.shard_eks_cluster.hub.ca_data
    token                  = ephemeral.shard_eks_token.hub.token
  }
}
