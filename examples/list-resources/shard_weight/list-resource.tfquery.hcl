# Adopt this shard's entries of a running fleet: `terraform query -generate-config-out=weights.tf`
# writes an import block and a shard_weight block for each; `terraform apply` imports them.
list "shard_weight" "this_shard" {
  provider = shard

  config {
    load_balancer_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/edge/50dc6c495c0c9188"
    # Leave out to list every shard's entry (e.g. from the ingress stack).
    target_group_arns = ["arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shard-2/73e2d6bc24d8a067"]
  }
}
