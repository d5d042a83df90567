# One EKS cluster with a managed node group and access entries: used for every shard and for the
# Argo CD hub. Authentication is through EKS access entries (authentication_mode = "API"), so
# access is granted in Terraform, with no aws-auth ConfigMap to edit in the cluster.

data "aws_partition" "current" {}

data "aws_iam_policy_document" "eks_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name               = "${var.name}-cluster"
  assume_role_policy = data.aws_iam_policy_document.eks_assume.json
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_eks_cluster" "this" {
  name     = var.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  access_config {
    authentication_mode = "API"
    # Off: the principal that creates the cluster (CI) gets its access from cluster_admins like
    # everyone else. Left unset, EKS defaults it to true and creates an entry for the creator, and
    # aws_eks_access_entry for the same principal then fails with ResourceInUseException
    # (https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAccessConfigRequest.html;
    # terraform-aws-modules/eks v20 sets it to false for the same reason).
    bootstrap_cluster_creator_admin_permissions = false
  }

  vpc_config {
    subnet_ids              = var.subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = true
  }

  depends_on = [aws_iam_role_policy_attachment.cluster]
}

data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name               = "${var.name}-node"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset(["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/${each.key}"
}

resource "aws_eks_node_group" "this" {
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "default"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = var.subnet_ids
  instance_types  = var.node_instance_types
  version         = var.kubernetes_version # nodes follow the control plane on an upgrade

  scaling_config {
    desired_size = var.node_count.desired
    min_size     = var.node_count.min
    max_size     = var.node_count.max
  }

  update_config {
    max_unavailable = 1
  }

  # No lifecycle.ignore_changes on desired_size: nothing else scales these nodes (no cluster
  # autoscaler is installed by these stacks), so Terraform owns the size. Capacity for a drain is
  # planned headroom (examples/RUNBOOK.md, "Capacity before a drain"); if you install
  # cluster-autoscaler or Karpenter, add ignore_changes = [scaling_config[0].desired_size].

  lifecycle {
    # A Kubernetes version or node change replaces or restarts nodes: only on a drained shard.
    # The caller says whether the shard takes traffic now (shard-N/: its live weight on the
    # listener and maintenance); the hub passes serving = false. See locals.disruptive below.
    precondition {
      condition     = !local.disruptive || !var.serving
      error_message = "This changes the Kubernetes version or the nodes of ${var.name} while it takes traffic. Drain first: apply maintenance = true alone (weight 0), then the upgrade in a second apply (examples/RUNBOOK.md, section 2)."
    }
  }

  depends_on = [aws_iam_role_policy_attachment.node]
}

# What runs now, read before the change (data sources are read at plan time), to tell whether
# this plan upgrades the control plane or changes the nodes. A cluster that does not exist yet
# (first apply) has nothing to drain. data "aws_eks_clusters" lists names without failing on a
# missing cluster (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/data-sources/eks_clusters).
data "aws_eks_clusters" "existing" {}

data "aws_eks_cluster" "live" {
  count = contains(data.aws_eks_clusters.existing.names, var.name) ? 1 : 0
  name  = var.name
}

data "aws_eks_node_groups" "live" {
  count        = length(data.aws_eks_cluster.live)
  cluster_name = var.name
}

data "aws_eks_node_group" "live" {
  count           = try(contains(data.aws_eks_node_groups.live[0].names, "default"), false) ? 1 : 0
  cluster_name    = var.name
  node_group_name = "default"
}

locals {
  live_version = try(data.aws_eks_cluster.live[0].version, var.kubernetes_version)
  nodes_change = try(
    data.aws_eks_node_group.live[0].version != var.kubernetes_version ||
    toset(data.aws_eks_node_group.live[0].instance_types) != toset(var.node_instance_types),
    false
  )
  disruptive = local.live_version != var.kubernetes_version || local.nodes_change
}

# EKS Pod Identity needs its agent on the nodes: an association alone gives pods no credentials
# ("creating pod identity associations requires the eks-pod-identity-agent addon",
# https://docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html). Installed on every
# cluster of the fleet: the hub's Argo CD and each shard's AWS Load Balancer Controller use it.
# It runs as a DaemonSet, so the nodes come first (an add-on without nodes never turns ACTIVE).
resource "aws_eks_addon" "pod_identity_agent" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "eks-pod-identity-agent"
  resolve_conflicts_on_create = "OVERWRITE"

  depends_on = [aws_eks_node_group.this]
}

# Managed node groups without a launch template get only the cluster security group
# (https://docs.aws.amazon.com/eks/latest/userguide/sec-group-reqs.html), which admits only
# itself. With the VPC CNI, pods use the node's security groups, so both rules go on it.

# The shared ALB's health checks and traffic reach the pods on the serving port
# (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/security_groups/:
# without controller-managed backend rules, "you need to configure the security groups on your
# Node/Pod to allow inbound traffic from the load balancer").
resource "aws_vpc_security_group_ingress_rule" "from_alb" {
  count = var.pod_ingress == null ? 0 : 1

  security_group_id            = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
  referenced_security_group_id = var.pod_ingress.security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.pod_ingress.port
  to_port                      = var.pod_ingress.port
  description                  = "shared ALB to pods (serving port and health checks)"
}

# Other clusters' API clients (the Argo CD hub) reach this cluster's private endpoint on 443
# (https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html: the private endpoint
# admits what the cluster security group admits).
resource "aws_vpc_security_group_ingress_rule" "api" {
  for_each = var.api_ingress_security_group_ids

  security_group_id            = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "Kubernetes API from ${each.key}"
}

# The AWS Load Balancer Controller's identity (shards only): registers the shard's pods in its
# target group through a TargetGroupBinding. The policy is the TargetGroupBinding subset of the
# controller's docs/install/iam_policy.json (no load balancers, listeners or security groups
# are created by the controller here: Terraform owns those); use the full upstream policy if
# you also let it serve Ingress or Service objects.
data "aws_iam_policy_document" "pod_identity_assume" {
  statement {
    # https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "load_balancer_controller" {
  count = var.load_balancer_controller == null ? 0 : 1

  statement {
    sid = "Describe"
    actions = [
      "ec2:DescribeAvailabilityZones",
      "ec2:DescribeInstances",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeSubnets",
      "ec2:DescribeVpcs",
      "elasticloadbalancing:DescribeListeners",
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeTags",
      "elasticloadbalancing:DescribeTargetGroupAttributes",
      "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeTargetHealth",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "RegisterThisShardsPods"
    actions   = ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
    resources = var.load_balancer_controller.target_group_arns
  }
}

resource "aws_iam_role" "load_balancer_controller" {
  count = var.load_balancer_controller == null ? 0 : 1

  name               = "${var.name}-aws-load-balancer-controller"
  assume_role_policy = data.aws_iam_policy_document.pod_identity_assume.json
}

resource "aws_iam_role_policy" "load_balancer_controller" {
  count = var.load_balancer_controller == null ? 0 : 1

  role   = aws_iam_role.load_balancer_controller[0].name
  policy = data.aws_iam_policy_document.load_balancer_controller[0].json
}

# The chart's ServiceAccount (serviceAccount.name in the aws-load-balancer-controller chart,
# installed by the hub's ApplicationSet in kube-system).
resource "aws_eks_pod_identity_association" "load_balancer_controller" {
  count = var.load_balancer_controller == null ? 0 : 1

  cluster_name    = aws_eks_cluster.this.name
  namespace       = "kube-system"
  service_account = "aws-load-balancer-controller"
  role_arn        = aws_iam_role.load_balancer_controller[0].arn
}

resource "aws_eks_access_entry" "admin" {
  for_each = var.cluster_admins

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
}

# Read-only principals (the CI role that plans on pull requests): an access entry in the
# Kubernetes group `shard-plan-readers`, which the workload chart binds to the `view` ClusterRole
# (Argo Rollouts' aggregated roles add rollouts to it), with no EKS access policy.
# (https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html, kubernetesGroups.)
resource "aws_eks_access_entry" "viewer" {
  for_each = var.cluster_viewers

  cluster_name      = aws_eks_cluster.this.name
  principal_arn     = each.value
  kubernetes_groups = ["shard-plan-readers"]
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = var.cluster_admins

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  policy_arn    = "arn:${data.aws_partition.current.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }

  depends_on = [aws_eks_access_entry.admin]
}
