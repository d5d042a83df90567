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
  cluster_viewers    = var.plan_principal_arn == null ? {} : { plan = var.plan_principal_arn }
  serving            = false # the hub takes no listener traffic; shards keep serving while it upgrades
}

# Argo CD's own identity on the hub (EKS Pod Identity for its controller and server): what
# argocd-k8s-auth signs EKS tokens with before assuming the shard access role
# (https://argo-cd.readthedocs.io/en/stable/operator-manual/declarative-setup/#eks). The agent
# add-on it needs is installed by modules/eks-cluster, before these associations are used.
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
  # The ServiceAccounts of the argo-cd chart's controller, ApplicationSet controller and server.
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

  # Read-only plans (examples/stacks/CI.md): the plan role, an access entry in the group
  # shard-plan-readers (modules/eks-cluster cluster_viewers), may read what the registrations'
  # refresh reads in Argo CD's namespace. The chart renders extraObjects as they are
  # (argoproj/argo-helm charts/argo-cd/values.yaml, extraObjects).
  values = [yamlencode({
    extraObjects = [
      {
        apiVersion = "rbac.authorization.k8s.io/v1"
        kind       = "Role"
        metadata   = { name = "shard-plan-readers", namespace = "argocd" }
        rules = [
          { apiGroups = [""], resources = ["secrets", "configmaps"], verbs = ["get", "list", "watch"] },
          { apiGroups = ["argoproj.io"], resources = ["applications", "applicationsets"], verbs = ["get", "list", "watch"] },
        ]
      },
      {
        apiVersion = "rbac.authorization.k8s.io/v1"
        kind       = "RoleBinding"
        metadata   = { name = "shard-plan-readers", namespace = "argocd" }
        roleRef    = { apiGroup = "rbac.authorization.k8s.io", kind = "Role", name = "shard-plan-readers" }
        subjects   = [{ apiGroup = "rbac.authorization.k8s.io", kind = "Group", name = "shard-plan-readers" }]
      },
    ]
  })]

  # The pods start with credentials only if the agent runs and the associations exist first
  # (Pod Identity injects credentials at pod creation).
  depends_on = [aws_eks_pod_identity_association.argocd, module.hub]
}

# The ApplicationSets, through the argocd-apps chart rather than kubernetes_manifest: a
# kubernetes_manifest needs its CRD on the API server at plan time, so the first apply of this
# stack (which creates the cluster and the CRD) would fail in plan
# (https://registry.terraform.io/providers/hashicorp/kubernetes/latest/docs/resources/manifest#before-you-use-this-resource).
# A Helm release is planned without the API server knowing the kind. Values format:
# argoproj/argo-helm charts/argocd-apps/values.yaml (applicationsets: a map by name, chart 2.x).
resource "helm_release" "argocd_apps" {
  name       = "argocd-apps"
  namespace  = "argocd"
  repository = "https://argoproj.github.io/argo-helm"
  chart      = "argocd-apps"
  version    = var.argocd_apps_chart_version

  values = [yamlencode({
    applicationsets = {
      # Per shard: the AWS Load Balancer Controller, which binds the shard's pods to its target
      # group (TargetGroupBinding). Its IAM role and Pod Identity association are made by the
      # shard's modules/eks-cluster; chart values per
      # https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/installation/
      # (clusterName; vpcId and region given, so the controller needs no instance metadata).
      "aws-load-balancer-controller" = {
        namespace         = "argocd"
        goTemplate        = true
        goTemplateOptions = ["missingkey=error"]
        generators        = [{ clusters = { selector = { matchLabels = { fleet = var.fleet_label } } } }]
        template = {
          metadata = { name = "aws-load-balancer-controller-{{.name}}" }
          spec = {
            project = "default"
            source = {
              repoURL        = "https://aws.github.io/eks-charts"
              chart          = "aws-load-balancer-controller"
              targetRevision = var.load_balancer_controller_chart_version
              helm = {
                valuesObject = {
                  clusterName    = "{{.name}}"
                  region         = "{{index .metadata.annotations \"shardkit.io/region\"}}"
                  vpcId          = "{{index .metadata.annotations \"shardkit.io/vpc-id\"}}"
                  serviceAccount = { create = true, name = "aws-load-balancer-controller" }
                }
              }
            }
            destination = { server = "{{.server}}", namespace = "kube-system" }
            # The chart generates its webhook certificate on every render (genCA): without
            # these, each sync replaces the TLS Secret and the webhooks' caBundle, and the
            # webhook that injects readiness gates fails its TLS handshake
            # (aws-load-balancer-controller docs, deploy/installation.md, "ArgoCD users").
            ignoreDifferences = [
              { group = "", kind = "Secret", name = "aws-load-balancer-tls", jsonPointers = ["/data"] },
              { group = "admissionregistration.k8s.io", kind = "MutatingWebhookConfiguration", name = "aws-load-balancer-webhook", jqPathExpressions = [".webhooks[].clientConfig.caBundle"] },
              { group = "admissionregistration.k8s.io", kind = "ValidatingWebhookConfiguration", name = "aws-load-balancer-webhook", jqPathExpressions = [".webhooks[].clientConfig.caBundle"] },
            ]
            syncPolicy = {
              automated   = { prune = true, selfHeal = true }
              syncOptions = ["RespectIgnoreDifferences=true"]
            }
          }
        }
        # When a shard leaves, the service's Application is deleted with its finalizer, and its
        # TargetGroupBinding's own finalizer needs the controller to deregister the pods: keep
        # the controller's resources when its Application goes (they go with the cluster)
        # (https://argo-cd.readthedocs.io/en/stable/operator-manual/applicationset/Application-Deletion/).
        syncPolicy = { preserveResourcesOnDeletion = true }
      }

      # Per shard: the service (examples/stacks/workload: Rollout, Service, TargetGroupBinding).
      "service" = {
        namespace         = "argocd"
        goTemplate        = true
        goTemplateOptions = ["missingkey=error"]
        generators        = [{ clusters = { selector = { matchLabels = { fleet = var.fleet_label } } } }]
        template = {
          metadata = { name = "service-{{.name}}" }
          spec = {
            project = "default"
            source = {
              repoURL        = var.workload_repo_url
              targetRevision = "main"
              path           = "deploy"
              helm = {
                valuesObject = {
                  shard = "{{.name}}"
                  # Set by shard_argocd_cluster_registration (modules/shard-delivery): the cluster
                  # generator exposes the Secret's annotations to the template
                  # (https://argo-cd.readthedocs.io/en/stable/operator-manual/applicationset/Generators-Cluster/).
                  targetGroupARN = "{{index .metadata.annotations \"shardkit.io/target-group-arn\"}}"
                }
              }
            }
            destination = { server = "{{.server}}", namespace = "app" }
            syncPolicy = {
              automated = { prune = true, selfHeal = true }
              syncOptions = [
                "CreateNamespace=true",
                # The TargetGroupBinding's CRD comes with the controller (the other Application):
                # skip its dry run until then and retry (https://argo-cd.readthedocs.io/en/stable/user-guide/sync-options/).
                "SkipDryRunOnMissingResource=true",
              ]
              retry = { limit = 10, backoff = { duration = "15s", factor = 2, maxDuration = "5m" } }
              # The controller's webhook adds the target health readiness gate to pods in
              # namespaces with this label
              # (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/pod_readiness_gate/):
              # a rolling pod counts as ready only once the ALB finds it healthy.
              managedNamespaceMetadata = {
                labels = { "elbv2.k8s.aws/pod-readiness-gate-inject" = "enabled" }
              }
            }
          }
        }
      }
    }
  })]

  depends_on = [helm_release.argocd]
}
