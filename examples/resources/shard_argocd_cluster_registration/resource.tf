# In shard-2/: this shard joins Argo CD in the same apply that creates its cluster, and takes
# traffic only once the Applications Argo CD generates for it are Synced and Healthy.
resource "shard_argocd_cluster_registration" "this" {
  name             = "shard-2"
  eks_cluster_name = module.cluster.name # endpoint and CA from eks:DescribeCluster

  # Argo CD reaches the shard with IAM (argocd-k8s-auth), assuming this role.
  aws_auth {
    role_arn = "arn:aws:iam::111122223333:role/argocd-shard-access"
  }

  # What the ApplicationSet cluster generators select on.
  labels = {
    shard = "2"
    env   = "prod"
  }

  wait_for_sync {
    min_applications = 3
    timeout          = "20m"
  }

  # On destroy, wait until Argo CD has removed the shard's Applications (default true).
  wait_for_removal = true
}

resource "shard_weight" "this" {
  listener_arn     = data.terraform_remote_state.ingress.outputs.listener_arn
  target_group_arn = data.terraform_remote_state.ingress.outputs.target_group_arns["shard-2"]
  weight           = 50

  depends_on = [shard_argocd_cluster_registration.this]
}
