variable "region" {
  type        = string
  description = "The cell's region (cells may sit in different regions; the name is global)."
}

variable "cell" {
  type        = string
  description = "The cell's name: its set identifier in the weighted group, e.g. cell-1."
}

variable "zone_id" {
  type        = string
  description = "The shared hosted zone's id."
}

variable "service_name" {
  type        = string
  description = "The name every cell shares, e.g. api.example.com."
}

variable "vpc_id" {
  type = string
}

variable "public_subnet_ids" {
  type = list(string)
}

variable "alb_security_group_id" {
  type = string
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate for service_name in this region."
}

variable "weight" {
  type        = number
  default     = 50
  description = "The cell's weight when it serves, 0..255."
}

variable "maintenance" {
  type        = bool
  default     = false
  description = "true: out of the answers (weight 0), drained before the apply returns."
}
