terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # v5 and v6 both work: aws_eks_pod_identity_association (5.31), access entries (5.33),
      # resolve_conflicts_on_create (v6 removed resolve_conflicts); no argument here changed in v6
      # (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/guides/version-6-upgrade).
      version = ">= 5.40, < 7.0"
    }
  }
}
