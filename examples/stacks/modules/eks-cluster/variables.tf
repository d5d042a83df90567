variable "name" {
  description = "The EKS cluster's name (shard-1, shard-2, ... or the hub's)."
  type        = string

  validation {
    condition     = can(regex("^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$", var.name))
    error_message = "An EKS cluster name is 1 to 100 letters, digits, hyphens and underscores, starting with a letter or digit."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes minor version, e.g. \"1.33\". Raising it upgrades the control plane, then the nodes: drain the shard first (maintenance = true)."
  type        = string

  validation {
    condition     = can(regex("^1\\.[0-9]+$", var.kubernetes_version))
    error_message = "kubernetes_version is a minor version such as \"1.33\"."
  }
}

variable "subnet_ids" {
  description = "Private subnets for the control plane's network interfaces and the nodes."
  type        = list(string)
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["m7i.large"]
}

variable "node_count" {
  description = "Desired, minimum and maximum size of the managed node group."
  type = object({
    desired = number
    min     = number
    max     = number
  })
  default = { desired = 3, min = 2, max = 6 }

  validation {
    condition     = var.node_count.min <= var.node_count.desired && var.node_count.desired <= var.node_count.max
    error_message = "node_count needs min <= desired <= max."
  }
}

variable "cluster_admins" {
  description = "IAM principals given cluster-admin through EKS access entries, by a short name (e.g. the Argo CD hub's role on every shard, the CI role that runs Terraform)."
  type        = map(string)
  default     = {}
}
