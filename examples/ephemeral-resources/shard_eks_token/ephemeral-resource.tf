# In argo-cluster/: configure the helm provider for the hub without the aws CLI and without a
# token in state (Terraform >= 1.10).
data "shard_eks_cluster" "hub" {
  name = "argo-hub"
}

ephemeral "shard_eks_token" "hub" {
  cluster_name = data.shard_eks_cluster.hub.name
}

provider "helm" {
  kubernetes = {
    host                   = data.shard_eks_cluster.hub.endpoint
    cluster_ca_certificate = data.shard_eks_cluster.hub.ca_data
    token                  = ephemeral.shard_eks_token.hub.token
  }
}
