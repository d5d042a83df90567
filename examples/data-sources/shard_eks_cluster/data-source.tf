# The hub's endpoint and CA, for a kubernetes/helm provider or this provider's hub block.
data "shard_eks_cluster" "hub" {
  name = "argo-hub"
}

output "hub_endpoint" {
  value = data.shard_eks_cluster.hub.endpoint
}

output "hub_oidc_issuer" {
  value = data.shard_eks_cluster.hub.oidc_issuer_url
}
