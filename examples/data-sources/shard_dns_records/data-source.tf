# How the shared name splits answers between the cells.
data "shard_dns_records" "api" {
  zone_id = "Z0123456789ABCDEFGHIJ"
  name    = "api.example.com"
  type    = "A"
}

output "dns_shares" {
  value = { for r in data.shard_dns_records.api.records : r.set_identifier => r.traffic_share }
}
