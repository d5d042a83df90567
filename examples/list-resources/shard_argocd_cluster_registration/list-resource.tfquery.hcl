# The clusters registered on the hub (by hand, by the Argo CD CLI, by another tool):
#   terraform query -generate-config-out=registrations.tf
list "shard_argocd_cluster_registration" "fleet" {
  provider = shard

  config {
    namespace      = "argocd"
    label_selector = "fleet=shards"
  }
}
