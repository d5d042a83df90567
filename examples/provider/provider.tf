terraform {
  required_providers {
    shard = {
      source = "shardkit/shard"
    }
  }
}

# Credentials come from the default AWS chain (environment, profile, SSO, IRSA, instance role).
provider "shard" {
  region = "eu-west-1"

  # Optional: run every call as another role.
  # assume_role {
  #   role_arn = "arn:aws:iam::123456789012:role/shard-traffic"
  # }

  # Optional: the Argo CD hub cluster, for cluster registration.
  # hub {
  #   config_path      = "~/.kube/config"
  #   config_context   = "argo-hub"
  #   argocd_namespace = "argocd"
  # }
}
