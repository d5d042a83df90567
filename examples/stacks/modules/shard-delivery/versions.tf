terraform {
  # Ephemeral resources (shard_eks_token) and write-only attributes need 1.10/1.11; optional()
  # object attributes with defaults need 1.3.
  required_version = ">= 1.10"

  required_providers {
    shard = {
      source = "shardkit/shard"
      # accept_suspended, application_sets, annotations and the gate's retry_aborted,
      # promote_inconclusive and lift_manual_pause are used here; 0.x: minor versions may break.
      version = ">= 0.1.0, < 1.0.0"
    }
  }
}
