variable "state_bucket" {
  description = "S3 bucket holding every stack's state (read here for vpc/'s outputs)."
  type        = string
  default     = "example-terraform-state"
}

variable "region" {
  description = "AWS region; must be vpc/'s."
  type        = string
  default     = "eu-west-1"
}

variable "hub_name" {
  description = "The Argo CD hub's EKS cluster name. Shard directories name it in their provider's hub block."
  type        = string
  default     = "argo-hub"
}

variable "kubernetes_version" {
  description = "The hub's Kubernetes minor version."
  type        = string
  default     = "1.33"
}

variable "terraform_principal_arn" {
  description = "The IAM role CI runs Terraform as: it gets cluster-admin on the hub, to write Argo CD's cluster Secrets (shard_argocd_cluster_registration) and install Argo CD."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.terraform_principal_arn))
    error_message = "terraform_principal_arn is an IAM role ARN, arn:aws:iam::<account>:role/<name>."
  }
}

variable "argocd_chart_version" {
  description = "Version of the argo-cd Helm chart."
  type        = string
  default     = "8.1.2"
}

variable "argocd_apps_chart_version" {
  description = "Version of the argocd-apps Helm chart (2.x: applicationsets is a map by name)."
  type        = string
  default     = "2.0.3" # goTemplateOptions needs 2.0.3 or later (argo-helm c5c412a1)
}

variable "load_balancer_controller_chart_version" {
  description = "Version of the aws-load-balancer-controller Helm chart (eks-charts) the hub installs on every shard."
  type        = string
  default     = "1.13.3"
}

variable "workload_repo_url" {
  description = "Git repository with the service's manifests (a Rollout per service), synced to every shard."
  type        = string
  default     = "https://github.com/example/service-deploy.git"
}

variable "fleet_label" {
  description = "Label value that puts a registered cluster into the fleet: the ApplicationSet selects cluster Secrets with fleet = this value, and each shard's registration sets it."
  type        = string
  default     = "shards"
}

variable "plan_principal_arn" {
  description = "The read-only IAM role CI plans pull requests with (examples/stacks/CI.md), or null: it may read the hub's Argo CD objects (a Role in argocd) and nothing else."
  type        = string
  default     = null
}
