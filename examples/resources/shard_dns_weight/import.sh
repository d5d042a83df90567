# <zone_id>/<name>/<type>/<set_identifier>
terraform import shard_dns_weight.this "Z0123456789ABCDEFGHIJ/api.example.com/A/cell-2"
