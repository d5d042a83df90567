output "weight" {
  description = "The shard's effective weight on the shared listener (0 in maintenance)."
  value       = shard_weight.this.weight
}

output "argocd_cluster_name" {
  description = "The shard's Argo CD cluster name (destination.name in Applications)."
  value       = shard_argocd_cluster_registration.this.name
}

output "argocd_applications" {
  description = "The Applications targeting the shard as the registration last saw them: name, sync_status, health_status."
  value       = shard_argocd_cluster_registration.this.applications
}

output "rollouts" {
  description = "Per gate (the keys of var.rollouts; empty in maintenance): where the Rollout stands."
  value = {
    for key, gate in shard_rollout_gate.this : key => {
      namespace      = gate.namespace
      name           = gate.name
      strategy       = gate.strategy
      phase          = gate.phase
      message        = gate.message
      current_step   = gate.current_step
      step_count     = gate.step_count
      canary_weight  = gate.canary_weight
      fully_promoted = gate.fully_promoted
    }
  }
}

output "target_group_annotation" {
  description = "The cluster Secret annotation that carries this shard's target group ARN to the ApplicationSet template (metadata.annotations in the cluster generator)."
  value       = local.target_group_annotation
}
