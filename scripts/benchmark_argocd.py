"""Benchmarks shard_argocd_cluster_registration against the bench (real Terraform, moto with
EKS as AWS describes it, the real kube-apiserver as the Argo CD hub); prints a Markdown report.
Run via scripts/benchmark-argocd.sh. Like the tests, it plays Argo CD: it creates the Application
an ApplicationSet would generate and writes its status.

- API requests of one registration without waiting, from the API server's audit log and the
  provider's log (DescribeCluster);
- time from the last Application turning Healthy to `terraform apply` returning (wait_for_sync),
  and from the last Application going to `terraform destroy` returning (wait_for_removal).
"""
import base64, json, os, ssl, statistics, subprocess, sys, tempfile, time, urllib.error, urllib.request

import boto3

ROOT, BIN = sys.argv[1], sys.argv[2]
RUNS = int(os.environ.get("RUNS", "10"))
TF = os.path.join(ROOT, ".bench/bin/terraform")
PY = os.path.join(ROOT, ".bench/venv/bin/python3")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Kube:
    def __init__(self, d):
        self.dir = d
        conn = json.load(open(os.path.join(d, "connection.json")))
        self.conn = conn
        self.ctx = ssl.create_default_context(cafile=conn["ca_file"])

    def call(self, method, path, body=None, content_type="application/json"):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.conn["host"] + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.conn["admin_token"])
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def namespace(self, name):
        code, body = self.call("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
        assert code in (200, 201), body

    def apps(self, ns):
        return f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/applications"

    def generate(self, ns, name, server, finalizer=False):
        meta = {"name": name}
        if finalizer:
            meta["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
        app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta,
               "spec": {"project": "default", "destination": {"server": server, "namespace": "web"},
                        "source": {"repoURL": "https://example.com/web.git", "path": "deploy"}}}
        code, body = self.call("POST", self.apps(ns), app)
        assert code in (200, 201), body

    def patch_app(self, ns, name, patch):
        code, body = self.call("PATCH", f"{self.apps(ns)}/{name}", patch, "application/merge-patch+json")
        assert code == 200, body

    def status(self, ns, name, sync, health):
        self.patch_app(ns, name, {"status": {"sync": {"status": sync}, "health": {"status": health}}})

    def secret_exists(self, ns, name):
        return self.call("GET", f"/api/v1/namespaces/{ns}/secrets/{name}")[0] == 200

    def audit(self, ns):
        out = []
        for line in open(self.conn["audit_log"]):
            e = json.loads(line)
            if e.get("stage") == "ResponseComplete" and (e.get("objectRef") or {}).get("namespace") == ns:
                out.append((e["verb"], e["objectRef"].get("resource"), e["user"]["username"]))
        return out


class Workspace:
    def __init__(self, moto, hub_body, body):
        self.dir = tempfile.mkdtemp(prefix="shard-argocd-bench")
        cli = os.path.join(self.dir, "cli.tfrc")
        with open(cli, "w") as f:
            f.write('provider_installation {\n  dev_overrides {\n    "shardkit/shard" = "%s"\n  }\n  direct {}\n}\n'
                    % os.path.dirname(BIN))
        self.env = dict(os.environ, TF_CLI_CONFIG_FILE=cli, TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1",
                        TF_LOG_PROVIDER="DEBUG", TF_LOG_PATH=os.path.join(self.dir, "terraform.log"),
                        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
                        AWS_EC2_METADATA_DISABLED="true")
        with open(os.path.join(self.dir, "main.tf"), "w") as f:
            f.write('terraform {\n  required_providers {\n    shard = { source = "shardkit/shard" }\n  }\n}\n'
                    'provider "shard" {\n  region = "us-east-1"\n  endpoints {\n    elbv2 = "%s"\n    eks = "%s"\n'
                    '    sts = "%s"\n  }\n  hub {\n%s\n  }\n}\n%s\n' % (moto, moto, moto, hub_body, body))

    def run(self, *args):
        p = subprocess.run([TF, *args, "-no-color", "-input=false"], cwd=self.dir, env=self.env,
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
        return p

    def start(self, *args):
        return subprocess.Popen([TF, *args, "-no-color", "-input=false"], cwd=self.dir, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def log(self):
        return open(os.path.join(self.dir, "terraform.log")).read()


def registration(name, extra):
    return ('resource "shard_argocd_cluster_registration" "this" {\n  name = "%s"\n%s\n}\n' % (name, extra))


def wait_for(cond, what, limit=60):
    deadline = time.time() + limit
    while not cond():
        assert time.time() < deadline, what
        time.sleep(0.05)


def main():
    kube_dir = tempfile.mkdtemp(prefix="shard-argocd-kube")
    subprocess.run(["bash", os.path.join(ROOT, "scripts/kube-cluster.sh"), "start", kube_dir, str(os.getpid())],
                   check=True, stderr=subprocess.DEVNULL)
    port = free_port()
    moto = subprocess.Popen([PY, os.path.join(ROOT, "tests/fixtures/eks_moto.py"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        kube = Kube(kube_dir)
        wait_for(lambda: subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"], stderr=subprocess.DEVNULL).returncode == 0, "moto")
        eks = boto3.client("eks", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        eks.create_cluster(name="shard-1", roleArn="arn:aws:iam::123456789012:role/eks",
                           resourcesVpcConfig={"subnetIds": ["subnet-1"]})
        hub_body = lambda ns: ('    host = "%s"\n    cluster_ca_certificate = file("%s")\n    token = "%s"\n'
                               '    argocd_namespace = "%s"' % (kube.conn["host"], kube.conn["ca_file"],
                                                               kube.conn["admin_token"], ns))
        report = []

        # Requests of one registration without waiting.
        ns = "bench-requests"
        kube.namespace(ns)
        ws = Workspace(endpoint, hub_body(ns), registration("shard-1", '  eks_cluster_name = "shard-1"\n'
                                                            '  aws_auth {\n    role_arn = "arn:aws:iam::1:role/argocd"\n  }'))
        ws.run("init")
        log_from = len(ws.log())
        t = time.perf_counter()
        ws.run("apply", "-auto-approve")
        apply_s = time.perf_counter() - t
        requests = kube.audit(ns)
        describes = ws.log()[log_from:].count("aws_call=DescribeCluster")
        report.append(("API requests of a registration with `eks_cluster_name`, no wait (apply of a create)",
                       "1 SSA patch + 1 DescribeCluster",
                       f"**{len(requests)} ({', '.join(f'{v} {r}' for v, r, _ in requests)}) + {describes} DescribeCluster**; apply {apply_s:.2f} s"))
        log_from = len(ws.log())
        before = len(kube.audit(ns))
        ws.run("plan")
        refresh = kube.audit(ns)[before:]
        report.append(("API requests of a refresh + plan with nothing to change", "—",
                       f"{len(refresh)} ({', '.join(f'{v} {r}' for v, r, _ in refresh)}) + "
                       f"{ws.log()[log_from:].count('aws_call=DescribeCluster')} DescribeCluster"))

        # wait_for_sync: the last Application turns Healthy -> the apply returns.
        sync_lat, removal_lat = [], []
        for i in range(RUNS):
            ns = f"bench-sync-{i}"
            kube.namespace(ns)
            server = f"https://shard-{i}.example.com"
            ws = Workspace(endpoint, hub_body(ns),
                           registration(f"shard-{i}", f'  server = "{server}"\n  exec {{\n    command = "argocd-k8s-auth"\n  }}\n'
                                                      '  wait_for_sync {\n    min_applications = 2\n  }'))
            ws.run("init")
            p = ws.start("apply", "-auto-approve")
            wait_for(lambda: kube.secret_exists(ns, f"cluster-shard-{i}"), "Secret written")
            for app in ("web", "api"):
                kube.generate(ns, f"{app}-shard-{i}", server, finalizer=True)
                kube.status(ns, f"{app}-shard-{i}", "OutOfSync", "Progressing")
            kube.status(ns, f"web-shard-{i}", "Synced", "Healthy")
            time.sleep(0.5)
            assert p.poll() is None, p.stdout.read()
            t0 = time.perf_counter()
            kube.status(ns, f"api-shard-{i}", "Synced", "Healthy")
            out, _ = p.communicate()
            sync_lat.append((time.perf_counter() - t0) * 1000)
            assert p.returncode == 0, out

            # wait_for_removal: the last Application goes -> the destroy returns.
            p = ws.start("destroy", "-auto-approve")
            wait_for(lambda: not kube.secret_exists(ns, f"cluster-shard-{i}"), "Secret deleted")
            for app in ("web", "api"):
                kube.call("DELETE", f"{kube.apps(ns)}/{app}-shard-{i}")
            kube.patch_app(ns, f"web-shard-{i}", {"metadata": {"finalizers": None}})
            time.sleep(0.5)
            assert p.poll() is None, p.stdout.read()
            t0 = time.perf_counter()
            kube.patch_app(ns, f"api-shard-{i}", {"metadata": {"finalizers": None}})
            out, _ = p.communicate()
            removal_lat.append((time.perf_counter() - t0) * 1000)
            assert p.returncode == 0, out

        def summary(xs):
            xs = sorted(xs)
            return f"**{statistics.median(xs):.0f} ms** median (min {xs[0]:.0f}, max {xs[-1]:.0f}, {len(xs)} runs)"

        report.append(("Last Application Synced+Healthy → `terraform apply` returns (wait_for_sync)", "≤ 1 s",
                       summary(sync_lat)))
        report.append(("Last Application gone → `terraform destroy` returns (wait_for_removal)", "≤ 1 s",
                       summary(removal_lat)))
        print("| What | Target | Measured |\n| --- | --- | --- |")
        for what, target, measured in report:
            print(f"| {what} | {target} | {measured} |")
    finally:
        moto.kill()
        subprocess.run(["bash", os.path.join(ROOT, "scripts/kube-cluster.sh"), "stop", kube_dir])


if __name__ == "__main__":
    main()
