# cell-N/: one cell's own load balancer and its weighted record for the shared name. The cell's
# EKS cluster, registration and rollout gates are shard-1/'s (modules/shard-delivery); the AWS
# Load Balancer Controller registers the pods in this cell's target group.

resource "aws_lb" "cell" {
  name               = var.cell
  load_balancer_type = "application"
  subnets            = var.public_subnet_ids
  security_groups    = [var.alb_security_group_id]
}

resource "aws_lb_target_group" "cell" {
  name        = var.cell
  port        = 8080
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id

  health_check {
    path    = "/healthz"
    matcher = "200"
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.cell.arn
  port              = 443
  protocol          = "HTTPS"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.cell.arn
  }
}

# Route 53 leaves the cell out of the answers while this fails; shard_dns_weight raises the
# weight from 0 only once it passes.
resource "aws_route53_health_check" "cell" {
  fqdn              = aws_lb.cell.dns_name
  port              = 443
  type              = "HTTPS"
  resource_path     = "/healthz"
  failure_threshold = 3
  request_interval  = 10

  tags = { Name = "${var.service_name} ${var.cell}" }
}

resource "shard_dns_weight" "cell" {
  zone_id         = var.zone_id
  name            = var.service_name
  type            = "A"
  set_identifier  = var.cell
  weight          = var.maintenance ? 0 : var.weight
  health_check_id = aws_route53_health_check.cell.id

  alias {
    dns_name               = aws_lb.cell.dns_name
    zone_id                = aws_lb.cell.zone_id
    evaluate_target_health = true
  }

  # Never the last cell serving; decided under the DNS lock, so two drains cannot both pass.
  fleet_guard {
    min_serving = 1
  }

  # Back in steps of 25, each INSYNC, a minute apart (the alias's TTL is 60 s).
  ramp {
    step     = 25
    interval = "1m"
  }

  # After a drain: INSYNC, then the 60 s TTL plus 15 s, before the apply returns.
  drain_delay = "15s"
}

data "shard_dns_records" "shared" {
  zone_id = var.zone_id
  name    = var.service_name
  type    = "A"

  depends_on = [shard_dns_weight.cell]
}
