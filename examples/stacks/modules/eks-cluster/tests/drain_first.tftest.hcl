# terraform test for modules/eks-cluster's drain-first precondition, with a mocked hashicorp/aws
# (https://developer.hashicorp.com/terraform/language/tests/mocking). Needs the registry to
# install hashicorp/aws's schema: `terraform init && terraform test` (not run on the project's
# build machines; see examples/stacks/README.md).

mock_provider "aws" {
  # A running cluster "shard-1" on 1.32 with its node group on 1.32.
  mock_data "aws_eks_clusters" {
    defaults = { names = ["shard-1"] }
  }
  mock_data "aws_eks_cluster" {
    defaults = { version = "1.32" }
  }
  mock_data "aws_eks_node_groups" {
    defaults = { names = ["default"] }
  }
  mock_data "aws_eks_node_group" {
    defaults = { version = "1.32", instance_types = ["m7i.large"] }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
}

variables {
  name               = "shard-1"
  kubernetes_version = "1.32"
  subnet_ids         = ["subnet-1", "subnet-2"]
}

run "no_change_while_serving_is_fine" {
  command = plan
  variables {
    serving = true
  }
}

run "upgrade_while_serving_is_refused" {
  command = plan
  variables {
    serving            = true
    kubernetes_version = "1.33"
  }
  expect_failures = [aws_eks_node_group.this]
}

run "upgrade_of_a_drained_shard_is_allowed" {
  command = plan
  variables {
    serving            = false
    kubernetes_version = "1.33"
  }
}

run "node_change_while_serving_is_refused" {
  command = plan
  variables {
    serving             = true
    node_instance_types = ["m7i.xlarge"]
  }
  expect_failures = [aws_eks_node_group.this]
}
