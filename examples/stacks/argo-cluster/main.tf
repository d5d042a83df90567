# argo-cluster/: the Argo CD hub. One EKS cluster running Argo CD, an ApplicationSet whose
# cluster generator deploys the service to every registered shard, and the IAM role Argo CD uses
# to reach the shard clusters. Shards register themselves (shard_argocd_cluster_registration in
# shard-N/), so this stack must exist before the first shard is applied, and adding a shard
# needs no change here.

data "terraform_remote_state" "vpc" {
  backend = "s3"
  config = {
    bucket = var.state_bucket
    key    = "shards/vpc.tfstate"
    region = var.region
  }
}

module "hub" {
  source = "../modules/eks-cluster"

  name               = var.hub_name
  kubernetes_version = var.kubernetes_version
  subnet_ids         = data.terraform_remote_state.vpc.outputs.private_subnet_ids
  cluster_admins     = { terraform = var.terraform_principal_arn }
}

# Argo CD's own identity on the hub (EKS Pod Identity for its controller and server).
data "aws_iam_policy_document" "pod_identity_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "argocd" {
  name               = "${var.hub_name}-argocd"
  assume_role_policy = data.aws_iam_policy_document.pod_identity_assume.json
}

resource "aws_eks_pod_identity_association" "argocd" {
  for_each = toset(["argocd-application-controller", "argocd-applicationset-controller", "argocd-server"])

  cluster_name    = module.hub.name
  namespace       = "argocd"
  service_account = each.key
  role_arn        = aws_iam_role.argocd.arn
}

# The role Argo CD assumes to reach a shard (the registration's aws_auth.role_arn). Each shard
# cluster grants it access with an EKS access entry.
data "aws_iam_policy_document" "shard_access_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.argocd.arn]
    }
  }
}

resource "aws_iam_role" "shard_access" {
  name               = "argocd-shard-access"
  assume_role_policy = data.aws_iam_policy_document.shard_access_assume.json
}

data "aws_iam_policy_document" "argocd_assume_shard_access" {
  statement {
    actions   = ["sts:AssumeRole", "sts:TagSession"]
    resources = [aws_iam_role.shard_access.arn]
  }
}

resource "aws_iam_role_policy" "argocd_assume_shard_access" {
  role   = aws_iam_role.argocd.name
  policy = data.aws_iam_policy_document.argocd_assume_shard_access.json
}

resource "helm_release" "argocd" {
  name             = "argocd"
  namespace        = "argocd"
  create_namespace = true
  repository       = "https://argoproj.github.io/argo-helm"
  chart            = "argo-cd"
  version          = var.argocd_chart_version

  depends_on = [aws_eks_pod_identity_association.argocd]
}

# One Application per registered shard: the cluster generator selects the cluster Secrets that
# shard_argocd_cluster_registration writes (label fleet = var.fleet_label). The workload holds
# Argo Rollouts (the controller and the service's Rollouts) and the AWS Load Balancer
# Controller's TargetGroupBinding that registers the shard's pods in its target group.
resource "kubernetes_manifest" "service_appset" {
  manifest = {
    apiVersion = "argoproj.io/v1alpha1"
    kind       = "ApplicationSet"
    metadata = {
      name      = "service"
      namespace = "argocd"
    }
    spec = {
      goTemplate = true
      generators = [{
        clusters = {
          selector = { matchLabels = { fleet = var.fleet_label } }
        }
      }]
      template = {
        metadata = { name = "service-{{.name}}" }
        spec = {
          project = "default"
          source = {
            repoURL        = var.workload_repo_url
            targetRevision = "main"
            path           = "deploy"
            helm = {
              valuesObject = { shard = "{{.name}}" }
            }
          }
          destination = {
            server    = "{{.server}}"
            namespace = "app"
          }
          syncPolicy = {
            automated   = { prune = true, selfHeal = true }
            syncOptions = ["CreateNamespace=true"]
          }
        }
      }
    }
  }

  depends_on = [helm_release.argocd]
}
