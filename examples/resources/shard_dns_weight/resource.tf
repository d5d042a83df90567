# In cell-2/: this cell's weighted record for the name every cell shares, an alias to the cell's
# own ALB. Other cell directories own their own record sets; applies may run at the same time.
resource "shard_dns_weight" "this" {
  zone_id        = "Z0123456789ABCDEFGHIJ" # the shared zone
  name           = "api.example.com"
  type           = "A"
  set_identifier = "cell-2"
  weight         = 50 # 0 takes cell-2 out of the answers

  alias {
    dns_name               = "cell-2-1234567890.eu-west-1.elb.amazonaws.com" # aws_lb.cell.dns_name
    zone_id                = "Z32O12XQLNTSW2"                                # aws_lb.cell.zone_id
    evaluate_target_health = true
  }

  # Raised from 0 only once Route 53's health check of this cell passes.
  health_check_id = "0a1b2c3d-4e5f-6789-abcd-ef0123456789" # aws_route53_health_check.cell.id

  # One cell out of the answers at a time is fine; never the last one serving.
  fleet_guard {
    min_serving = 1
  }

  # Come back gradually: each step INSYNC, then a minute for resolvers, then the next.
  ramp {
    step     = 25
    interval = "1m"
  }

  # After a drain: the alias's 60 s TTL, plus 15 s, before the apply returns.
  drain_delay = "15s"
}
