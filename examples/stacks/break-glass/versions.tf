terraform {
  # Action blocks arrived in Terraform 1.14.
  required_version = ">= 1.14"

  required_providers {
    shard = {
      source  = "shardkit/shard"
      version = ">= 0.1.0, < 1.0.0"
    }
  }
  # No backend: nothing here has state.
}

provider "shard" {
  region = var.region
}
