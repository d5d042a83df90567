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

variable "cluster_viewers" {
  description = "IAM principals that may only read (e.g. the CI role that plans pull requests), by a short name: an access entry in the Kubernetes group shard-plan-readers, bound to the view ClusterRole by the workload chart (and, on the hub, by argo-cluster/)."
  type        = map(string)
  default     = {}
}

variable "serving" {
  description = "Whether this cluster takes traffic now. A Kubernetes version or node change is refused while it does (a precondition). shard-N/ passes: not (maintenance and its live weight on the listener is 0); the hub passes false."
  type        = bool
}

variable "pod_ingress" {
  description = "Allow this security group (the shared ALB's) into the pods on this port (the target group's port and health checks). null: none (the hub)."
  type = object({
    security_group_id = string
    port              = number
  })
  default = null
}

variable "api_ingress_security_group_ids" {
  description = "Security groups allowed to this cluster's API server on 443 (private endpoint), by a short name: the Argo CD hub's cluster security group on every shard."
  type        = map(string)
  default     = {}
}

variable "load_balancer_controller" {
  description = "The AWS Load Balancer Controller's IAM role and Pod Identity association (kube-system/aws-load-balancer-controller), allowed to register targets in these target groups only. null: none (the hub)."
  type = object({
    target_group_arns = list(string)
  })
  default = null
}
