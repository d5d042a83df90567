output "name" {
  description = "The cluster's name, once its nodes are up (what shard_* resources take as eks_cluster_name)."
  value       = aws_eks_cluster.this.name
  depends_on  = [aws_eks_node_group.this, aws_eks_access_policy_association.admin]
}

output "endpoint" {
  description = "The API server URL."
  value       = aws_eks_cluster.this.endpoint
}

output "certificate_authority_data" {
  description = "Base64 of the API server's CA bundle (PEM)."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "oidc_issuer_url" {
  description = "The cluster's OIDC issuer, for IAM roles for service accounts."
  value       = aws_eks_cluster.this.identity[0].oidc[0].issuer
}

output "kubernetes_version" {
  description = "The control plane's Kubernetes version."
  value       = aws_eks_cluster.this.version
}
