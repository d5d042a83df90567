#!/usr/bin/env python3
"""Writes the hand-written seeds of each fuzz target into fuzz/seeds/<target>/. Run by hand after
changing a seed. scripts/fuzz.sh fuzzes with them and with the minimized corpus in
fuzz/corpus/<target>/ (which `scripts/fuzz.sh cmin` rebuilds). The inputs are what the provider meets for real: Terraform's msgpack values,
stored state JSON, ELB ARNs, a kubeconfig, an EKS CA bundle, the lock rule DescribeRules returns,
an Argo CD cluster Secret and its argocd-cmd-params-cm."""

import base64
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def mp(v):
    """A minimal msgpack encoder: None, bool, int, float, str, bytes, list, dict, Ext."""
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, Ext):
        return bytes([0xc7, len(v.data), v.code]) + v.data
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if v >= 2**63:
            return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else bytes([0xd9, len(b)])) + b
    if isinstance(v, bytes):
        return bytes([0xc4, len(v)]) + v
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


class Ext:
    def __init__(self, code, data):
        self.code, self.data = code, data


UNKNOWN = Ext(0, b"\x00")


def typed(ty, payload):
    return json.dumps(ty, separators=(",", ":")).encode() + b"\x00" + payload


WEIGHT = ["object", {"id": "string", "listener_arn": "string", "rule_arn": "string",
                     "weights": ["map", "number"], "timeouts": ["object", {"create": "string"}]}]
REGISTRATION = ["object", {"name": "string", "labels": ["map", "string"], "namespaces": ["set", "string"],
                           "cluster": ["list", ["object", {"host": "string", "insecure": "bool",
                                                            "exec": ["list", ["object", {"args": ["list", "string"]}]]}]],
                           "config": "dynamic", "shard": "number"}]
L = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2"
R = L.replace(":listener/", ":listener-rule/") + "/9683b2d02a6cabee"
T = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shard-1/73e2d6bc24d8a067"


def ca_pem():
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", f"{d}/k", "-out", f"{d}/c", "-days", "3650", "-subj", "/CN=kubernetes"],
                       check=True, capture_output=True)
        return open(f"{d}/c").read()


def seeds():
    pem = ca_pem()
    pem_b64 = base64.b64encode(pem.encode()).decode()
    weight = {"id": L, "listener_arn": L, "rule_arn": None, "weights": {"shard-1": 90, "shard-2": 10},
              "timeouts": {"create": "5m"}}
    registration = {"name": "shard-2", "labels": {"env": "prod"}, "namespaces": ["a", "b"],
                    "cluster": [{"host": "https://10.0.0.1:6443", "insecure": False, "exec": [{"args": ["eks", "get-token"]}]}],
                    "config": [json.dumps(["object", {"a": ["list", "number"]}]).encode(), {"a": [1, 0.5]}],
                    "shard": 18446744073709551615}
    out = {}
    out["value_msgpack"] = {
        "weight": typed(WEIGHT, mp(weight)),
        "weight-unknown": typed(WEIGHT, mp({**weight, "weights": UNKNOWN, "id": Ext(12, b"\x81\x01\xc3")})),
        "registration": typed(REGISTRATION, mp(registration)),
        "numbers": typed(["tuple", ["number", "number", "number", "number"]], mp([-7, 2.5, "0.1", "1e400"])),
        "dynamic-null": typed("dynamic", mp([b'["list","string"]', None])),
        "null": typed(["set", "bool"], mp(None)),
    }
    state = {"id": L, "listener_arn": L, "rule_arn": None, "weights": {"shard-1": 0.1, "shard-2": 123456789012345678901234567890},
             "timeouts": None}
    out["value_json"] = {
        "weight-state": typed(WEIGHT, json.dumps(state).encode()),
        "registration-state": typed(REGISTRATION, json.dumps(
            {"name": 7, "labels": {"env": True}, "namespaces": ["a"], "cluster": [{"host": "h", "insecure": "1", "exec": []}],
             "config": {"value": {"a": [1, 2]}, "type": ["object", {"a": ["list", "number"]}]}, "shard": "1.50"}).encode()),
        "numbers": typed(["list", "number"], b"[0.5, 1e300, 1.50, -0, 18446744073709551616, 1E-7]"),
    }
    out["number"] = {name: text.encode() for name, text in [
        ("int", "42"), ("negative", "-9223372036854775808"), ("u64", "18446744073709551615"), ("float", "0.5"),
        ("decimal", "0.1"), ("exp", "1.5e3"), ("huge", "1e400"), ("tiny", "-2.5E-324"), ("zero", "0.000"),
        ("long", "123456789012345678901234567890.123456789")]}
    out["number"]["f64-bits"] = struct.pack("<d", 0.1)
    out["arn"] = {"listener": L.encode(), "rule": R.encode(), "target-group": T.encode(),
                  "nlb": L.replace("/app/", "/net/").encode(), "china": L.replace("arn:aws:", "arn:aws-cn:").encode()}
    out["duration"] = {n: t.encode() for n, t in [("s", "30s"), ("hm", "1h30m"), ("frac", "1.5m"), ("ms", "250ms"),
                                                 ("us", "10µs"), ("zero", "0"), ("plus", "+2h45m30.5s")]}
    out["duration"]["bytes"] = struct.pack("<QI", 5400, 250_000_000)
    kubeconfig = f"""apiVersion: v1
kind: Config
current-context: hub
clusters:
- name: hub
  cluster:
    server: https://ABCDEF0123456789.gr7.eu-west-1.eks.amazonaws.com
    certificate-authority-data: {pem_b64}
- name: kind-local
  cluster:
    server: https://127.0.0.1:6443/
    insecure-skip-tls-verify: true
    proxy-url: http://proxy.internal:3128
contexts:
- name: hub
  context:
    cluster: hub
    user: eks
    namespace: argocd
- name: local
  context:
    cluster: kind-local
    user: token
users:
- name: eks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token, --cluster-name, hub, --region, eu-west-1]
      env:
      - name: AWS_PROFILE
        value: platform
      interactiveMode: Never
      provideClusterInfo: false
- name: token
  user:
    token: eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.payload.signature
"""
    out["kubeconfig"] = {
        "eks": kubeconfig.encode(),
        "exec-credential": json.dumps({"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1",
                                       "status": {"token": "k8s-aws-v1.aHR0cHM6Ly9zdHM", "expirationTimestamp": "2026-05-01T10:15:00Z"}}).encode(),
    }
    out["connection"] = {
        "host-token": json.dumps({"host": {"Known": "https://10.0.0.1:6443"}, "token": {"Known": "eyJhbGciOi-secret"},
                                  "cluster_ca_certificate": {"Known": pem_b64}}).encode(),
        "exec": json.dumps({"host": {"Known": "https://x.eks.amazonaws.com"}, "exec": {
            "api_version": None, "command": "aws", "args": ["eks", "get-token"], "env": {"AWS_PROFILE": "p"}}}).encode(),
        "kubeconfig": json.dumps({"config_path": {"Known": "~/.kube/config"}, "config_context": {"Known": "hub"}}).encode(),
        "eks-unknown": json.dumps({"eks_cluster_name": "Unknown", "insecure": {"Known": True}}).encode(),
    }
    out["ca_bundle"] = {"pem": pem.encode(), "base64": pem_b64.encode(), "two": (pem + pem).encode(),
                        "wrapped-base64": "\n".join(pem_b64[i:i + 64] for i in range(0, len(pem_b64), 64)).encode()}
    lock = {"RuleArn": R, "Priority": "50000", "IsDefault": False, "Conditions": [
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "x-shard-provider-lock",
                                                      "Values": ["shard_weight:" + L, "expires=1767225600", "holder=ci-runner-7:4242"]}}],
            "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}]}
    other = {"RuleArn": R, "Priority": "10", "Conditions": [{"Field": "path-pattern", "Values": ["/api/*"],
                                                             "PathPatternConfig": {"Values": ["/api/*"]}}]}
    out["lock_rule"] = {"lock": json.dumps(lock).encode(), "other-rule": json.dumps(other).encode()}
    config = {"awsAuthConfig": {"clusterName": "shard-2", "roleARN": "arn:aws:iam::123456789012:role/argocd-manager"},
              "tlsClientConfig": {"insecure": False, "caData": pem_b64, "serverName": "kubernetes.default"},
              "proxyUrl": "http://proxy:3128", "futureSetting": {"x": 1}}
    exec_config = {"bearerToken": "", "execProviderConfig": {"command": "argocd-k8s-auth", "args": ["aws", "--cluster-name", "shard-2"],
                                                             "apiVersion": "client.authentication.k8s.io/v1beta1", "env": {"A": "b"}},
                   "TLSClientConfig": {"Insecure": True, "certData": "", "keyData": None}}
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "cluster-shard-2", "namespace": "argocd",
                           "labels": {"argocd.argoproj.io/secret-type": "cluster", "env": "prod", "shard.example/ring": "1"},
                           "annotations": {"managed-by": "argocd.argoproj.io", "team": "platform"}},
              "data": {k: base64.b64encode(v.encode()).decode() for k, v in {
                  "name": "shard-2", "server": "https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com/", "config": json.dumps(config),
                  "namespaces": " apps, ,payments ", "clusterResources": "true", "project": "shards", "shard": "1"}.items()}}
    out["argocd_cluster_config"] = {"config": json.dumps(config).encode(), "exec-config": json.dumps(exec_config).encode(),
                                    "secret": json.dumps(secret).encode()}
    appset = {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": {"name": "guestbook"},
              "spec": {"syncPolicy": {"applicationsSync": "create-update"}, "generators": [
                  {"clusters": {"selector": {"matchLabels": {"env": "prod"}}}},
                  {"matrix": {"generators": [{"clusters": {"selector": {"matchExpressions": [
                      {"key": "shard.example/ring", "operator": "In", "values": ["1", "2"]}]}}}, {"list": {"elements": []}}]}}]}}
    out["argocd_selector"] = {
        "selector": json.dumps({"selector": {"matchLabels": {"env": "prod"}, "matchExpressions": [
            {"key": "tier", "operator": "NotIn", "values": ["canary"]}, {"key": "shard.example/ring", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"}]}, "labels": {"env": "prod", "shard.example/ring": "1"}}).encode(),
        "appset": json.dumps({"appset": appset, "labels": {"env": "prod", "shard.example/ring": "2"}}).encode(),
    }
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": "guestbook-shard-2", "ownerReferences": [
               {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "guestbook", "controller": True}]},
           "spec": {"destination": {"server": "https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com", "namespace": "apps"}},
           "status": {"sync": {"status": "Synced", "comparedTo": {"destination": {"server": "https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com/"}}},
                      "health": {"status": "Healthy"}, "reconciledAt": "2026-05-01T10:00:00Z",
                      "operationState": {"phase": "Succeeded", "finishedAt": "2026-05-01T09:59:00Z"},
                      "conditions": [{"type": "ComparisonError", "message": "cluster unreachable"}]}}
    out["argocd_policy"] = {
        "cmd-params": json.dumps({"data": {"applicationsetcontroller.policy": "create-only",
                                           "applicationsetcontroller.enable.policy.override": "true",
                                           "server.insecure": "true"}, "appset": appset, "app": app,
                                  "labels": {"env": "staging"}}).encode(),
        "defaults": json.dumps({"data": {}, "appset": appset, "app": app}).encode(),
    }
    return out


def main():
    for target, files in seeds().items():
        d = os.path.join(HERE, "seeds", target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{target}: {len(files)} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
