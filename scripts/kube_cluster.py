"""HTTP, JSON and YAML chores for scripts/kube-cluster.sh (run with the bench venv's python).

    ports N                     N distinct free loopback ports
    wait-etcd PORT SECONDS PID        until etcd answers /health on PORT (exit 2: timed out or
                                      process PID exited)
    wait-ready DIR PORT SECONDS PID   until kube-apiserver's /readyz is ok (exit 2: likewise)
    setup DIR PORT FILE...      create the objects in the YAML files (CRDs first), wait for the CRDs
                                to be Established, write DIR/connection.json and DIR/kubeconfig
"""
import json
import os
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request

import yaml


def ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def tokens(d):
    """{user: token} from DIR/tokens.csv (token,user,uid[,groups])."""
    out = {}
    with open(os.path.join(d, "tokens.csv")) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) >= 3:
                out[parts[1]] = parts[0]
    return out


class Api:
    def __init__(self, d, port):
        self.base = f"https://127.0.0.1:{port}"
        self.ca = os.path.join(d, "certs", "apiserver.crt")
        self.token = tokens(d)["admin"]

    def call(self, method, path, body=None, timeout=10):
        ctx = ssl.create_default_context(cafile=self.ca)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


def running(pid):
    try:
        os.kill(int(pid), 0)
        return True
    except OSError:
        return False


def wait_etcd(port, seconds, pid):
    deadline = time.time() + float(seconds)
    while time.time() < deadline and running(pid):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if json.loads(r.read()).get("health") == "true":
                    return 0
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    return 2


def wait_ready(d, port, seconds, pid):
    deadline = time.time() + float(seconds)
    last = "no answer"
    while time.time() < deadline:
        if not running(pid):
            print("kube-cluster: kube-apiserver exited", file=sys.stderr)
            return 2
        # The certificate and token file exist before the port opens; until then, keep waiting.
        if os.path.exists(os.path.join(d, "certs", "apiserver.crt")):
            try:
                code, body = Api(d, port).call("GET", "/readyz?verbose", timeout=3)
                if code == 200:
                    return 0
                last = f"HTTP {code}: " + " ".join(l for l in body.splitlines() if "[-]" in l)
            except (OSError, ssl.SSLError) as e:
                last = str(e)
        time.sleep(0.2)
    print(f"kube-cluster: /readyz not ok after {seconds} s; last answer: {last}", file=sys.stderr)
    return 2


# Collection paths of the kinds the fixtures use.
KINDS = {
    "CustomResourceDefinition": "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    "Namespace": "/api/v1/namespaces",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
}


def setup(d, port, files):
    api = Api(d, port)
    docs = []
    for f in files:
        with open(f) as fh:
            docs += [x for x in yaml.safe_load_all(fh) if x]
    docs.sort(key=lambda x: (x["kind"] != "CustomResourceDefinition", x["kind"] != "Namespace"))
    crds = []
    for doc in docs:
        kind = doc["kind"]
        if kind not in KINDS:
            sys.exit(f"kube-cluster: no collection path for kind {kind} (add it to scripts/kube_cluster.py)")
        path = KINDS[kind].format(ns=doc["metadata"].get("namespace", "default"))
        code, body = api.call("POST", path, doc)
        if code not in (200, 201, 409):
            sys.exit(f"kube-cluster: creating {kind} {doc['metadata']['name']} failed: HTTP {code}: {body}")
        if kind == "CustomResourceDefinition":
            crds.append(doc["metadata"]["name"])
    deadline = time.time() + 30
    for name in crds:
        while True:
            code, body = api.call("GET", f"{KINDS['CustomResourceDefinition']}/{name}")
            # A CRD just created may have "status": {"conditions": null} for a moment.
            status = (json.loads(body).get("status") or {}) if code == 200 else {}
            conds = status.get("conditions") or []
            state = {c["type"]: c for c in conds}
            if state.get("Established", {}).get("status") == "True":
                break
            bad = state.get("NamesAccepted", {})
            if bad.get("status") == "False" or time.time() > deadline:
                sys.exit(f"kube-cluster: CRD {name} not Established: {json.dumps(conds)}")
            time.sleep(0.1)

    toks = tokens(d)
    host = api.base
    conn = {"host": host, "ca_file": api.ca, "admin_token": toks["admin"], "limited_token": toks["limited"],
            "audit_log": os.path.join(d, "audit.log"),
            "eks_cluster_id": (os.environ.get("KUBE_CLUSTER_EKS_NAMES") or "bench").split(",")[0]}
    write_private(os.path.join(d, "connection.json"), json.dumps(conn, indent=2) + "\n")
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bench", "cluster": {"server": host, "certificate-authority": api.ca}}],
        "users": [
            {"name": "admin", "user": {"token": toks["admin"]}},
            {"name": "limited", "user": {"token": toks["limited"]}},
        ],
        "contexts": [
            {"name": "bench", "context": {"cluster": "bench", "user": "admin"}},
            {"name": "bench-limited", "context": {"cluster": "bench", "user": "limited"}},
        ],
        "current-context": "bench",
    }
    write_private(os.path.join(d, "kubeconfig"), yaml.safe_dump(kubeconfig, sort_keys=False))
    return 0


def write_private(path, text):
    tmp = path + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv):
    cmd = argv[1]
    if cmd == "ports":
        return ports(int(argv[2]))
    if cmd == "wait-etcd":
        return wait_etcd(argv[2], argv[3], argv[4])
    if cmd == "wait-ready":
        return wait_ready(argv[2], argv[3], argv[4], argv[5])
    if cmd == "setup":
        return setup(argv[2], argv[3], argv[4:])
    sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    sys.exit(main(sys.argv) or 0)
