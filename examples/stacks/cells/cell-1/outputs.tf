output "dns_weight" {
  value       = shard_dns_weight.cell.weight
  description = "This cell's weight in the shared name."
}

output "dns_shares" {
  value       = { for r in data.shard_dns_records.shared.records : r.set_identifier => r.traffic_share }
  description = "Every cell's share of the name's answers."
}
