"""Measures the release provider binary; prints a Markdown report. Run via scripts/benchmark.sh."""
import base64, datetime, json, os, re, shutil, socket, statistics, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT, BIN = sys.argv[1], sys.argv[2]
TF = os.path.join(ROOT, ".bench/bin/terraform")
PY = os.path.join(ROOT, ".bench/venv/bin/python3")
FIXTURE = os.path.join(ROOT, "tests/fixtures/aws_fixture.py")
COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"


def terraform_client_cert():
    """A client certificate like Terraform's: ECDSA P-521 / SHA-512, SAN localhost."""
    key = ec.generate_private_key(ec.SECP521R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA512()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def handshake_times(n=30):
    env = dict(os.environ, TF_PLUGIN_MAGIC_COOKIE=COOKIE, PLUGIN_PROTOCOL_VERSIONS="5,6",
               PLUGIN_CLIENT_CERT=terraform_client_cert())
    env.pop("TF_LOG", None)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        p = subprocess.Popen([BIN], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = p.stdout.readline()
        times.append((time.perf_counter() - start) * 1000)
        assert line.startswith(b"1|6|unix|"), line
        p.kill()
        p.wait()
    return times


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Bench:
    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="shard-bench")
        port = free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.moto = subprocess.Popen([os.path.join(ROOT, ".bench/bin/moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        # Provider dir: a wrapper that records the real provider's peak RSS when it exits.
        self.wrap_dir = os.path.join(self.work, "provider")
        os.makedirs(self.wrap_dir)
        self.rss_log = os.path.join(self.work, "rss.log")
        wrapper = os.path.join(self.wrap_dir, "terraform-provider-shard")
        with open(wrapper, "w") as f:
            f.write(f"""#!{PY}
import resource, subprocess, sys
p = subprocess.run([{BIN!r}] + sys.argv[1:])
with open({self.rss_log!r}, "a") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) + "\\n")
sys.exit(p.returncode)
""")
        os.chmod(wrapper, 0o755)
        self.cli = os.path.join(self.work, "cli.tfrc")
        with open(self.cli, "w") as f:
            f.write('provider_installation {\n  dev_overrides { "shardkit/shard" = "%s" }\n  direct {}\n}\n' % self.wrap_dir)
        # Timings use the binary itself: the RSS wrapper's Python start-up would be counted in.
        self.cli_direct = os.path.join(self.work, "cli-direct.tfrc")
        with open(self.cli_direct, "w") as f:
            f.write('provider_installation {\n  dev_overrides { "shardkit/shard" = "%s" }\n  direct {}\n}\n'
                    % os.path.dirname(BIN))

    def close(self):
        self.moto.kill()

    def fixture(self, *args):
        out = subprocess.run([PY, FIXTURE, *args], env=dict(os.environ, MOTO_ENDPOINT=self.endpoint),
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)

    def env(self, log, direct=False):
        """direct: the binary itself and no logs (for timings); else the RSS wrapper, DEBUG logs."""
        env = dict(os.environ, TF_CLI_CONFIG_FILE=self.cli_direct if direct else self.cli, TF_IN_AUTOMATION="1",
                   CHECKPOINT_DISABLE="1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
        if not direct:
            env.update(TF_LOG_PROVIDER="DEBUG", TF_LOG_PATH=log)
        return env

    def workspace(self, name, body):
        d = os.path.join(self.work, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "main.tf"), "w") as f:
            f.write('terraform {\n  required_providers {\n    shard = { source = "shardkit/shard" }\n  }\n}\n'
                    'provider "shard" {\n  region = "us-east-1"\n  endpoints { elbv2 = "%s" }\n}\n%s' % (self.endpoint, body))
        return d

    def tf(self, d, *args, log="tf.log", direct=False):
        log = os.path.join(d, log)
        r = subprocess.run([TF, args[0], "-no-color", "-input=false", *args[1:]], cwd=d, env=self.env(log, direct),
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"terraform {args} failed in {d}:\n{r.stdout}\n{r.stderr}")
        return log


def weight_block(name, listener, tg, weight, rule=None):
    rule_line = f'  rule_arn = "{rule}"\n' if rule else ""
    return (f'resource "shard_weight" "{name}" {{\n  listener_arn = "{listener}"\n  target_group_arn = "{tg}"\n'
            f'  weight = {weight}\n  min_healthy_targets = 0\n{rule_line}}}\n')


def api_calls(log):
    calls = {}
    with open(log) as f:
        for m in re.finditer(r"aws_call=(\w+)", f.read()):
            calls[m.group(1)] = calls.get(m.group(1), 0) + 1
    return calls


def main():
    report = ["# Benchmark run", "", f"- binary: release, {os.path.getsize(BIN) / 1e6:.1f} MB",
              f"- machine: {os.cpu_count()} cores, {datetime.date.today()}", ""]
    t = handshake_times()
    report += [f"## Start-up to handshake line ({len(t)} starts, AutoMTLS with a P-521 client cert)", "",
               f"median {statistics.median(t):.1f} ms, p90 {sorted(t)[int(len(t) * 0.9)]:.1f} ms, "
               f"min {min(t):.1f} ms, max {max(t):.1f} ms", ""]

    b = Bench()
    try:
        topo = b.fixture("topology", "weights=10,10,10,10,10", "name=bench")
        listener, tgs = topo["listener"], topo["target_groups"]
        d = b.workspace("one", weight_block("this", listener, tgs[0], 20)
                        + f'data "shard_listener" "l" {{\n  listener_arn = "{listener}"\n}}\n')
        b.tf(d, "init")
        open(b.rss_log, "w").close()
        b.tf(d, "apply", "-auto-approve")
        apply_rss = max(int(x) for x in open(b.rss_log).read().split())
        open(b.rss_log, "w").close()
        b.tf(d, "plan")
        plan_rss = max(int(x) for x in open(b.rss_log).read().split())
        report += ["## Peak RSS of the provider process", "",
                   f"plan (refresh of shard_weight + shard_listener): {plan_rss / 1024:.1f} MB; "
                   f"apply (create): {apply_rss / 1024:.1f} MB", ""]

        # API calls of one uncontended weight change, apply phase only (plan saved first).
        with open(os.path.join(d, "main.tf")) as f:
            body = f.read().replace("weight = 20", "weight = 30")
        with open(os.path.join(d, "main.tf"), "w") as f:
            f.write(body)
        b.tf(d, "plan", "-out=tfplan", log="plan.log")
        apply_log = b.tf(d, "apply", "tfplan", log="apply.log")
        calls = api_calls(apply_log)
        plan_calls = api_calls(os.path.join(d, "plan.log"))
        report += ["## AWS calls per weight change (no contention)", "",
                   f"apply phase: {json.dumps(calls, sort_keys=True)}",
                   f"plan phase (refresh + checks): {json.dumps(plan_calls, sort_keys=True)}", ""]

        # Plan of 20 already-applied shard_weight (4 listeners x 5 target groups) next to the same
        # plan over 20 terraform_data stand-ins, interleaved, medians compared in one run.
        body = ""
        for i in range(4):
            t = b.fixture("topology", "weights=1,1,1,1,1", f"name=plan{i}")
            for j, tg in enumerate(t["target_groups"]):
                body += weight_block(f"w{i}_{j}", t["listener"], tg, 1 + j)
        many = b.workspace("plan-20", body)
        b.tf(many, "init")
        b.tf(many, "apply", "-auto-approve")
        stand_in = os.path.join(b.work, "plan-20-stand-in")
        os.makedirs(stand_in)
        with open(os.path.join(stand_in, "main.tf"), "w") as f:
            f.write("".join(f'resource "terraform_data" "w{i}" {{\n  input = {i}\n}}\n' for i in range(20)))
        b.tf(stand_in, "init")
        b.tf(stand_in, "apply", "-auto-approve")

        def timed(d, *extra):
            start = time.perf_counter()
            b.tf(d, "plan", *extra, log="plan-timed.log", direct=True)
            return time.perf_counter() - start

        shard_t, stand_t, norefresh_t = [], [], []
        for _ in range(9):
            shard_t.append(timed(many))
            stand_t.append(timed(stand_in))
            norefresh_t.append(timed(many, "-refresh=false"))
        b.tf(many, "plan", log="plan-calls.log")
        refresh_calls = api_calls(os.path.join(many, "plan-calls.log"))
        ms, mt, mn = statistics.median(shard_t), statistics.median(stand_t), statistics.median(norefresh_t)
        report += ["## Plan of 20 shard_weight vs 20 terraform_data (9 interleaved runs, medians)", "",
                   f"shard_weight {ms * 1000:.0f} ms, terraform_data {mt * 1000:.0f} ms, ratio **{ms / mt:.2f}x**; "
                   f"shard_weight with -refresh=false {mn * 1000:.0f} ms; AWS calls of one plan: "
                   f"{json.dumps(refresh_calls, sort_keys=True)}", ""]

        # 20 shard directories applying at once on one (fresh) listener: 5 on the default action,
        # 5 on each of three rules (ALB allows 5 target groups per forward action).
        race = b.fixture("topology", "weights=1,1,1,1,1", "name=race")
        import boto3
        elb = boto3.client("elbv2", endpoint_url=b.endpoint, region_name="us-east-1",
                           aws_access_key_id="bench", aws_secret_access_key="bench")
        owners = [None]
        for i in range(3):
            r = elb.create_rule(ListenerArn=race["listener"], Priority=100 + i,
                                Conditions=[{"Field": "path-pattern", "Values": [f"/r{i}/*"]}],
                                Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                                    {"TargetGroupArn": tg, "Weight": 1} for tg in race["target_groups"]]}}])
            owners.append(r["Rules"][0]["RuleArn"])
        dirs = []
        for i in range(20):
            owner, tg = owners[i // 5], race["target_groups"][i % 5]
            dd = b.workspace(f"shard-{i}", weight_block("this", race["listener"], tg, 100 + i, owner))
            b.tf(dd, "init")
            dirs.append(dd)
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=20) as pool:
            logs = list(pool.map(lambda dd: b.tf(dd, "apply", "-auto-approve", log="race.log"), dirs))
        wall = time.perf_counter() - start
        totals = {}
        for l in logs:
            for k, v in api_calls(l).items():
                totals[k] = totals.get(k, 0) + v
        report += ["## 20 parallel shard applies on one listener", "",
                   f"wall time {wall:.1f} s for 20 `terraform apply` processes (each plans, then applies; 2 provider "
                   f"processes each); AWS calls in total: {json.dumps(totals, sort_keys=True)}", ""]
    finally:
        b.close()
    print("\n".join(report))


if __name__ == "__main__":
    main()
