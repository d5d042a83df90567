# In shard-2/: this shard's canary may go to step 3. The apply promotes through the pauses before
# it (one promote per pause, never past step 3) and returns once the Rollout is there; a new
# revision that restarts the canary shows as a diff, and the next apply promotes again.
resource "shard_rollout_gate" "api" {
  namespace = "app"
  name      = "api"

  cluster {
    eks_cluster_name = "shard-2"
  }

  promote_to_step = 3
  # promote_full  = true   # instead: full promotion (canary) / preview to active (blue-green)
  # (neither: a pure gate that waits until the Rollout is Healthy and fully promoted)

  # Degraded (failed analysis) or timed out: abort the Rollout, then fail.
  abort_on_failure = true

  timeouts {
    create = "30m"
    update = "30m"
  }
}
