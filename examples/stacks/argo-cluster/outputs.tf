output "hub_cluster_name" {
  description = "The hub's EKS cluster name, for the shard directories' provider hub block."
  value       = module.hub.name
}

output "shard_access_role_arn" {
  description = "The role Argo CD assumes to reach shard clusters: shards grant it an access entry and name it in their registration."
  value       = aws_iam_role.shard_access.arn
}

output "fleet_label" {
  description = "The label value shards register with so the ApplicationSet selects them."
  value       = var.fleet_label
}
