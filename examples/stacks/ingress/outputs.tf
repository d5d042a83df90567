output "load_balancer_arn" {
  description = "The shared ALB."
  value       = aws_lb.shared.arn
}

output "url" {
  description = "Where clients connect."
  value       = "https://${var.domain_name}"
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
  description = "Allow this group into each shard's pods (on serving_port)."
  value       = aws_security_group.alb.id
}

output "serving_port" {
  description = "The pods' serving port (target groups and health checks)."
  value       = var.serving_port
}

output "deregistration_delay" {
  description = "The target groups' deregistration delay, seconds: drain_delay and preStop exceed it."
  value       = var.deregistration_delay
}

output "alarm_topic_arn" {
  description = "SNS topic of the per-shard alarms: subscribe the on-call."
  value       = aws_sns_topic.alarms.arn
}
