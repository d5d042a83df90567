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

output "cluster_security_group_id" {
  description = "The hub's cluster security group (its nodes, so Argo CD's pods): each shard admits it on 443 to its API server."
  value       = module.hub.cluster_security_group_id
}

output "application_sets" {
  description = "The ApplicationSets every registered shard gets an Application from (the registration waits for one of each)."
  value       = ["aws-load-balancer-controller", "service"]
}
