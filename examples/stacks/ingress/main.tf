# ingress/: the one shared ALB and one target group per shard. The listener's weighted forward
# action is created here once; from then on every shard directory owns its own entry in it with
# shard_weight, so this stack ignores changes to the listener's default action.

data "terraform_remote_state" "vpc" {
  backend = "s3"
  config = {
    bucket = var.state_bucket
    key    = "shards/vpc.tfstate"
    region = var.region
  }
}

locals {
  vpc = data.terraform_remote_state.vpc.outputs
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "The shared ALB: HTTP(S) from anywhere, out to the shards' pods."
  vpc_id      = local.vpc.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  for_each = toset(var.certificate_arn == null ? ["80"] : ["80", "443"])

  security_group_id = aws_security_group.alb.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
}

resource "aws_vpc_security_group_egress_rule" "alb_to_pods" {
  security_group_id = aws_security_group.alb.id
  cidr_ipv4         = local.vpc.vpc_cidr_block
  ip_protocol       = "tcp"
  from_port         = 0
  to_port           = 65535
}

resource "aws_lb" "shared" {
  name               = var.name
  load_balancer_type = "application" # shard_weight refuses network and gateway load balancers
  subnets            = local.vpc.public_subnet_ids
  security_groups    = [aws_security_group.alb.id]
}

# One target group per shard, of type ip: the AWS Load Balancer Controller in each shard cluster
# registers that shard's pods with a TargetGroupBinding (part of the workload Argo CD syncs).
# A target group serves one load balancer only, so each belongs to this ALB alone.
resource "aws_lb_target_group" "shard" {
  for_each = var.shards

  name        = "${var.name}-${each.key}"
  vpc_id      = local.vpc.vpc_id
  target_type = "ip"
  protocol    = "HTTP"
  port        = 8080

  # What shard_weight's drain_delay should at least cover.
  deregistration_delay = 30

  health_check {
    path                = "/healthz"
    healthy_threshold   = 2
    unhealthy_threshold = 2
    interval            = 10
  }
}

resource "aws_lb_listener" "shared" {
  load_balancer_arn = aws_lb.shared.arn
  port              = var.certificate_arn == null ? 80 : 443
  protocol          = var.certificate_arn == null ? "HTTP" : "HTTPS"
  certificate_arn   = var.certificate_arn
  ssl_policy        = var.certificate_arn == null ? null : "ELBSecurityPolicy-TLS13-1-2-2021-06"

  default_action {
    type = "forward"
    forward {
      dynamic "target_group" {
        for_each = var.shards
        content {
          arn    = aws_lb_target_group.shard[target_group.key].arn
          weight = target_group.value.initial_weight
        }
      }
    }
  }

  lifecycle {
    # The shard directories own the weights (shard_weight). Without this, every apply of this
    # stack would reset them, and a shard added later would never be joined here.
    ignore_changes = [default_action]
  }
}

# The ingress stack's own rules take explicit priorities well below the lock's: the AWS
# provider numbers a rule without a priority "highest existing + 1", which is out of range
# while a shard_weight lock rule holds priority 50000.
resource "aws_lb_listener_rule" "maintenance_page" {
  listener_arn = aws_lb_listener.shared.arn
  priority     = 100

  condition {
    path_pattern {
      values = ["/.well-known/shards"]
    }
  }

  action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "shards: ${join(",", keys(var.shards))}"
      status_code  = "200"
    }
  }

  lifecycle {
    precondition {
      condition     = var.lock_priority > 100
      error_message = "lock_priority must stay above this stack's own rule priorities."
    }
  }
}
