name                    = "shard-1"
kubernetes_version      = "1.33"
terraform_principal_arn = "arn:aws:iam::111122223333:role/terraform-ci"
weight                  = 50

# Set to true, apply, upgrade, set back to false (examples/RUNBOOK.md).
maintenance = false

# Between releases: a new revision stops at its first pause (step 1) and waits for a reviewed
# change here. Never leave promote_full = true in place: the next apply of this directory (leaving
# maintenance, say) would promote whatever canary is running fully (examples/RUNBOOK.md, 3).
rollouts = {
  api = { namespace = "app", name = "api", promote_to_step = 1 }
}
