# A sick canary on shard-2: back to the stable revision now.
#   terraform apply -invoke=action.shard_rollout_abort.api
action "shard_rollout_abort" "api" {
  config {
    namespace = "payments"
    name      = "api"

    cluster {
      eks_cluster_name = "shard-2"
    }
  }
}
