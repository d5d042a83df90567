name                    = "shard-2"
kubernetes_version      = "1.33"
terraform_principal_arn = "arn:aws:iam::111122223333:role/terraform-ci"
weight                  = 50

# Set to true, apply, upgrade, set back to false (examples/RUNBOOK.md).
maintenance = false

rollouts = {
  api = { namespace = "app", name = "api", promote_full = true }
}
