variable "region" {
  description = "AWS region of the whole fleet: VPC, shared ALB, shard clusters and the Argo CD hub."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name prefix for the VPC and its subnets."
  type        = string
  default     = "shards"
}

variable "cidr_block" {
  description = "The VPC's IPv4 range. Subnets are carved out of it as /20s (public) and /19s (private)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.cidr_block)) && tonumber(split("/", var.cidr_block)[1]) <= 16
    error_message = "cidr_block must be an IPv4 CIDR of /16 or larger, e.g. 10.40.0.0/16."
  }
}

variable "availability_zones" {
  description = "Availability zones to spread subnets over. An ALB needs at least two."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 4
    error_message = "Give 2 to 4 availability zones: an ALB needs subnets in at least two."
  }
}
