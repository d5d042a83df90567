# <listener_or_rule_arn>,<target_group_arn>
terraform import shard_weight.this "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2,arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shard-2/73e2d6bc24d8a067"
