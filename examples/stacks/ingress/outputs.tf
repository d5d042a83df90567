output "load_balancer_arn" {
  description = "The shared ALB."
  value       = aws_lb.shared.arn
}

output "dns_name" {
  description = "Where clients connect (point your DNS record here)."
  value       = aws_lb.shared.dns_name
}

output "listener_arn" {
  description = "The shared listener whose weighted forward action the shard directories edit."
  value       = aws_lb_listener.shared.arn
}

output "target_group_arns" {
  description = "Each shard's target group, by shard name."
  value       = { for name, tg in aws_lb_target_group.shard : name => tg.arn }
}

output "alb_security_group_id" {
  description = "Allow this group into each shard's pods."
  value       = aws_security_group.alb.id
}
