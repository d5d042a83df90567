output "region" {
  description = "The fleet's AWS region."
  value       = var.region
}

output "vpc_id" {
  description = "The VPC every stack uses."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "The VPC's IPv4 range."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Subnets for the shared ALB."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Subnets for EKS nodes and pods."
  value       = aws_subnet.private[*].id
}
