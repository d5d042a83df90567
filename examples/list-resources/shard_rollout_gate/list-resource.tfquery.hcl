# The Rollouts of one shard's namespace, as gates to promote from this directory:
#   terraform query -generate-config-out=gates.tf
list "shard_rollout_gate" "payments" {
  provider = shard

  config {
    namespace = "payments"

    cluster {
      eks_cluster_name = "shard-2"
    }
  }
}
