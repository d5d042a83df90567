# terraform test for modules/shard-delivery: plans only, against a mock of shardkit/shard
# (https://developer.hashicorp.com/terraform/language/tests/mocking), so it needs no AWS, hub
# or shard cluster: `terraform init && terraform test` in this directory. What a real apply does
# is shown by the sandbox (`make sandbox`), which applies this module.

mock_provider "shard" {}

variables {
  name             = "shard-2"
  eks_cluster_name = "shard-2"
  listener_arn     = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/shards/50dc6c495c0c9188/f2f7dc8efc522ab2"
  target_group_arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/shards-shard-2/73e2d6bc24d8a067"
  weight           = 50
  argocd = {
    role_arn = "arn:aws:iam::111122223333:role/argocd-shard-access"
    labels   = { fleet = "shards" }
  }
  rollouts = {
    api = { namespace = "app", name = "api", promote_to_step = 1 }
  }
}

run "serving_shard_takes_its_weight_behind_its_gates" {
  command = plan

  assert {
    condition     = shard_weight.this.weight == 50
    error_message = "a serving shard takes its declared weight"
  }
  assert {
    condition     = length(shard_rollout_gate.this) == 1 && shard_rollout_gate.this["api"].promote_to_step == 1
    error_message = "one gate per rollouts entry, at its declared step"
  }
  assert {
    condition     = shard_rollout_gate.this["api"].abort_on_failure == true
    error_message = "abort_on_failure defaults to true"
  }
  assert {
    condition     = shard_argocd_cluster_registration.this.annotations["shardkit.io/target-group-arn"] == var.target_group_arn
    error_message = "the registration carries the target group ARN to the ApplicationSet template"
  }
  assert {
    condition     = shard_argocd_cluster_registration.this.wait_for_sync.accept_suspended == true
    error_message = "a paused canary (Suspended in Argo CD) must not hold the registration"
  }
}

run "maintenance_drains_and_lifts_the_gates" {
  command = plan

  variables {
    maintenance = true
  }

  assert {
    condition     = shard_weight.this.weight == 0
    error_message = "maintenance takes the shard out of traffic"
  }
  assert {
    condition     = length(shard_rollout_gate.this) == 0
    error_message = "maintenance lifts the gates, so a drain never waits on a Rollout"
  }
}

run "promote_full_and_promote_to_step_together_are_refused" {
  command = plan

  variables {
    rollouts = {
      api = { namespace = "app", name = "api", promote_to_step = 3, promote_full = true }
    }
  }

  expect_failures = [var.rollouts]
}

run "weight_out_of_range_is_refused" {
  command = plan

  variables {
    weight = 1000
  }

  expect_failures = [var.weight]
}
