terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
    shard = {
      source  = "shardkit/shard"
      version = ">= 0.1.0, < 1.0.0"
    }
  }

  # One state per cell: cell directories apply independently, at the same time if need be.
  backend "s3" {
    bucket       = "example-terraform-state"
    key          = "cells/cell-1.tfstate"
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
