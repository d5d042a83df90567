# How traffic is split across shards on the shared listener right now.
data "shard_listener" "shared" {
  listener_arn = var.listener_arn
}

output "shard_weights" {
  value = { for tg in data.shard_listener.shared.target_groups : tg.arn => tg.weight }
}

output "serving" {
  value = data.shard_listener.shared.total_weight > 0
}
