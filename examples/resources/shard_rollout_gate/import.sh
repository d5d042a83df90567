# <namespace>/<name>, then the cluster block's settings as ,key=value (a gate on the provider's hub
# needs only <namespace>/<name>)
terraform import shard_rollout_gate.api "app/api,eks_cluster_name=shard-2"
