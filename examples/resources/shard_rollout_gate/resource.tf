# In shard-2/: this shard's canary may go to step 3. The apply promotes through the pauses before
# it (one promote per pause, never past step 3) and returns once steps 0-2 are done; a new
# revision that restarts the canary shows as a diff, and the next apply promotes again. A new
# revision appearing during the apply stops it (nothing of it is promoted).
resource "shard_rollout_gate" "api" {
  namespace = "app"
  name      = "api"

  cluster {
    eks_cluster_name = "shard-2"
  }

  promote_to_step = 3
  # promote_full  = true   # instead: full promotion (canary) / preview to active (blue-green)
  # (neither: a pure gate that waits until the Rollout is Healthy and fully promoted)

  # Degraded (failed analysis) or timed out while progressing: abort the revision it was
  # promoting, then fail. (Never a Rollout parked at a pause.)
  abort_on_failure = true

  # Both default to false: an inconclusive analysis or an operator's `kubectl argo rollouts
  # pause` fails the apply, naming it, instead of being promoted through.
  # promote_inconclusive = true
  # lift_manual_pause    = true

  timeouts {
    create = "30m"
    update = "30m"
  }
}
