# Promote shard-2's canary past the pause it waits at:
#   terraform apply -invoke=action.shard_rollout_promote.api
action "shard_rollout_promote" "api" {
  config {
    namespace = "payments"
    name      = "api"

    cluster {
      eks_cluster_name = "shard-2"
    }
  }
}
