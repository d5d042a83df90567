output "name" {
  description = "The cluster's name, once its nodes are up (what shard_* resources take as eks_cluster_name)."
  value       = aws_eks_cluster.this.name
  # Known only once the cluster can serve: nodes, access, the Pod Identity agent, the network
  # rules and the controller's identity. Whatever takes the name (the registration, the gates,
  # the weight) comes after them.
  depends_on = [
    aws_eks_node_group.this,
    aws_eks_access_policy_association.admin,
    aws_eks_addon.pod_identity_agent,
    aws_vpc_security_group_ingress_rule.from_alb,
    aws_vpc_security_group_ingress_rule.api,
    aws_eks_pod_identity_association.load_balancer_controller,
  ]
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

output "cluster_security_group_id" {
  description = "The security group EKS made for the cluster (control plane ENIs and managed nodes)."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "pod_identity_agent_addon" {
  description = "The eks-pod-identity-agent add-on: anything using Pod Identity depends on it."
  value       = aws_eks_addon.pod_identity_agent.id
}
