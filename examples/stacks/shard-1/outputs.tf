output "cluster_name" {
  description = "This shard's EKS cluster."
  value       = module.cluster.name
}

output "weight" {
  description = "This shard's weight on the shared listener now (0 in maintenance)."
  value       = module.delivery.weight
}

output "rollouts" {
  description = "Where each gated Rollout stands."
  value       = module.delivery.rollouts
}
