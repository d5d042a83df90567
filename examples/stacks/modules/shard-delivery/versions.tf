terraform {
  # Ephemeral resources (shard_eks_token) and write-only attributes need 1.10/1.11; optional()
  # object attributes with defaults need 1.3.
  required_version = ">= 1.10"

  required_providers {
    shard = {
      source = "shardkit/shard"
    }
  }
}
