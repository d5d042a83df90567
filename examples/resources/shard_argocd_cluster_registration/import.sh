# <namespace>/<secret_name>
terraform import shard_argocd_cluster_registration.this argocd/cluster-shard-2
