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

# 80 only redirects to 443 (below).
resource "aws_vpc_security_group_ingress_rule" "alb" {
  for_each = toset(["80", "443"])

  security_group_id = aws_security_group.alb.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
}

# Out to the pods on the serving port only; each shard admits this group on that port
# (modules/eks-cluster, pod_ingress).
resource "aws_vpc_security_group_egress_rule" "alb_to_pods" {
  security_group_id = aws_security_group.alb.id
  cidr_ipv4         = local.vpc.vpc_cidr_block
  ip_protocol       = "tcp"
  from_port         = var.serving_port
  to_port           = var.serving_port
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
  port        = var.serving_port

  # What shard_weight's drain_delay should at least cover, and the pods' preStop sleep exceed
  # (examples/stacks/workload): a deregistered pod gets no new requests after this, and must
  # still be there to finish the ones it has
  # (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#deregistration-delay).
  deregistration_delay = var.deregistration_delay

  health_check {
    path                = "/healthz"
    healthy_threshold   = 2
    unhealthy_threshold = 2
    interval            = 10
  }
}

# HTTPS by default: a certificate for the service's name, validated in its Route 53 zone
# (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/acm_certificate_validation).
resource "aws_acm_certificate" "this" {
  domain_name       = var.domain_name
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "validation" {
  for_each = {
    for o in aws_acm_certificate.this.domain_validation_options : o.domain_name => o
  }

  zone_id         = var.zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 60
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  certificate_arn         = aws_acm_certificate.this.arn
  validation_record_fqdns = [for r in aws_route53_record.validation : r.fqdn]
}

resource "aws_lb_listener" "shared" {
  load_balancer_arn = aws_lb.shared.arn
  port              = 443
  protocol          = "HTTPS"
  certificate_arn   = aws_acm_certificate_validation.this.certificate_arn
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  default_action {
    type = "forward"
    forward {
      # Every shard starts at weight 0 and joins through its own shard_weight, which adopts
      # this entry, waits for healthy targets and only then raises it (docs/resources/weight.md:
      # the ALB health-checks a target group only once an action references it). A shard
      # listed here at a serving weight would take traffic before anything checked it.
      dynamic "target_group" {
        for_each = var.shards
        content {
          arn    = aws_lb_target_group.shard[target_group.key].arn
          weight = 0
        }
      }

      # Stickiness is decided here, at creation: the stack ignores the action afterwards and
      # shard_weight keeps whatever stickiness the action has. Off: the shards are identical
      # cells with no session state, so any request may go to any shard, and a shard drained to
      # weight 0 stops getting new requests at once. With it on, the ALB sends a client's
      # requests to the same target group for `duration` seconds
      # (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html#rule-action-types,
      # "target group stickiness"), so a drain is only complete once bound clients have moved:
      # drain_delay would have to exceed the duration. Turn it on only for a workload that
      # needs affinity, with a short duration and drain_delay set to match.
      stickiness {
        enabled  = false
        duration = 1
      }
    }
  }

  lifecycle {
    # The shard directories own the weights (shard_weight). Without this, every apply of this
    # stack would reset them, and a shard added later would never be joined here.
    ignore_changes = [default_action]
  }
}

# Plain HTTP only redirects to HTTPS.
resource "aws_lb_listener" "redirect" {
  load_balancer_arn = aws_lb.shared.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_route53_record" "service" {
  zone_id = var.zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = aws_lb.shared.dns_name
    zone_id                = aws_lb.shared.zone_id
    evaluate_target_health = true
  }
}

# Alarms per shard's target group: targets failing health checks, and 5XX answered by the
# targets (AWS/ApplicationELB metrics, dimensions TargetGroup and LoadBalancer:
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html).
# A shard at weight 0 gets no requests, so its 5XX alarm treats missing data as fine.
resource "aws_sns_topic" "alarms" {
  name = "${var.name}-alarms"
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  for_each = var.shards

  alarm_name          = "${var.name}-${each.key}-unhealthy-hosts"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    TargetGroup  = aws_lb_target_group.shard[each.key].arn_suffix
    LoadBalancer = aws_lb.shared.arn_suffix
  }
  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "target_5xx" {
  for_each = var.shards

  alarm_name          = "${var.name}-${each.key}-target-5xx"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.target_5xx_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    TargetGroup  = aws_lb_target_group.shard[each.key].arn_suffix
    LoadBalancer = aws_lb.shared.arn_suffix
  }
  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]
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
      message_body = "shards: ${join(",", sort(var.shards))}"
      status_code  = "200"
    }
  }

  lifecycle {
    precondition {
      condition     = var.lock_priority > 1000 + length(var.shards)
      error_message = "lock_priority (set it to the shard directories' provider lock_priority) must stay above this stack's own rule priorities (100, and 1000 + one per shard)."
    }
  }
}

# A target group is health-checked only while a listener action references it: until then its
# targets are "unused" (Target.NotInUse,
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html),
# and the AWS Load Balancer Controller's pod readiness gate stays false for them
# (aws-load-balancer-controller pkg/targetgroupbinding/resource_manager.go): a shard added after
# the listener was created would never get Ready pods, its Applications never Healthy, and its
# registration would time out before its shard_weight could join the listener. One rule per shard
# that no client request matches (a reserved `.invalid` host, RFC 2606) references each target
# group from its creation on.
resource "aws_lb_listener_rule" "health_check_anchor" {
  for_each = var.shards

  listener_arn = aws_lb_listener.shared.arn
  # Stable while shards are added in name order (shard-1, shard-2, ...): sorted position + 1000.
  priority = 1000 + index(sort(tolist(var.shards)), each.key)

  condition {
    host_header {
      values = ["${each.key}.health-check-anchor.invalid"]
    }
  }

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.shard[each.key].arn
  }
}
