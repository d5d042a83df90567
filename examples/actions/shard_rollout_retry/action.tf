# After the fix: start the aborted canary's steps again.
#   terraform apply -invoke=action.shard_rollout_retry.api
action "shard_rollout_retry" "api" {
  config {
    namespace = "payments"
    name      = "api"

    cluster {
      eks_cluster_name = "shard-2"
    }
  }
}
