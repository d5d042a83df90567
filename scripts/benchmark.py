"""The figures in docs/benchmarks.md, measured on the release provider binary; prints a Markdown
report. Run via scripts/benchmark.sh (`make benchmark`): `benchmark.py ROOT BINARY [aws] [argocd]`,
both parts when none is named.

aws: start-up to the handshake line, peak RSS during plan/apply, AWS API calls per weight change,
the plan comparison (below), and 20 parallel shard applies (moto).

plan (also part of aws): a plan of 20 applied shard_weight next to 20 `noop_thing` of the Go no-op
provider (PEER_PROVIDER: its binary, from scripts/bench-peer.sh; skipped when unset) and 20
terraform_data, refresh on and off, PLAN_RUNS (15) interleaved rounds; then the provider's own
start-up milestones and per-RPC timings per launch (SHARD_RPC_TIMINGS), and the peak RSS of a plan.
SHARD_BASELINE_BIN: another build of this provider, timed as one more case in the same run.

argocd: shard_argocd_cluster_registration against the bench (real Terraform, moto with EKS as AWS
describes it, the real kube-apiserver as the Argo CD hub). Like the tests, it plays Argo CD: an
ApplicationSet whose cluster generator selects the registration's label, the Applications it
generates (owned by it, with the resources finalizer), the status the application controller
writes (comparedTo, reconciledAt, the finished sync operation), and on destroy the
ApplicationSet controller deleting them once the label is gone and the finalizer going.
- API requests of one registration without waiting, from the API server's audit log and the
  provider's log (DescribeCluster);
- time from the last Application turning Healthy to `terraform apply` returning (wait_for_sync),
  and from the last Application going to `terraform destroy` returning (wait_for_removal).
"""
import datetime, json, os, re, socket, ssl, statistics, subprocess, sys, tempfile, time
import urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT, BIN = sys.argv[1], sys.argv[2]
PARTS = sys.argv[3:] or ["aws", "argocd"]
RUNS = int(os.environ.get("RUNS", "10"))
TF = os.path.join(ROOT, ".bench/bin/terraform")
PY = os.path.join(ROOT, ".bench/venv/bin/python3")
FIXTURE = os.path.join(ROOT, "tests/fixtures/aws_fixture.py")
COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"


# ---------------------------------------------------------------------------------------------
# Shared by both parts

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(cond, what, limit=60):
    deadline = time.time() + limit
    while not cond():
        assert time.time() < deadline, what
        time.sleep(0.05)


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
        return True
    except OSError:
        return False


def start_moto(program):
    """moto (`program`: its command, without address) on a free port; returns (process, endpoint)."""
    port = free_port()
    p = subprocess.Popen([*program, "-H", "127.0.0.1", "-p", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: port_open(port), "moto did not start", limit=30)
    return p, f"http://127.0.0.1:{port}"


def write_cli_config(path, provider_dir):
    """A Terraform CLI config installing shardkit/shard from `provider_dir` (dev_overrides)."""
    with open(path, "w") as f:
        f.write('provider_installation {\n  dev_overrides { "shardkit/shard" = "%s" }\n  direct {}\n}\n'
                % provider_dir)


def cli_config_for_build(work, name, binary):
    """A CLI config installing shardkit/shard from another build `binary` (a directory `name`
    under `work` holding a link to it): the path of the config."""
    provider_dir = os.path.join(work, name)
    os.makedirs(provider_dir)
    os.symlink(binary, os.path.join(provider_dir, "terraform-provider-shard"))
    cli = os.path.join(work, f"cli-{name}.tfrc")
    write_cli_config(cli, provider_dir)
    return cli


def tf_env(cli, log=None):
    """Terraform's environment: CLI config `cli`; the provider's DEBUG log to `log` if given."""
    env = dict(os.environ, TF_CLI_CONFIG_FILE=cli, TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1",
               AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true")
    env.pop("TF_LOG", None)
    if log:
        env.update(TF_LOG_PROVIDER="DEBUG", TF_LOG_PATH=log)
    return env


def main_tf(endpoint, body, hub=None):
    """main.tf: the provider with every AWS endpoint at `endpoint` (and a `hub` block body), then `body`."""
    hub_block = "  hub {\n%s\n  }\n" % hub if hub else ""
    return ('terraform {\n  required_providers {\n    shard = { source = "shardkit/shard" }\n  }\n}\n'
            'provider "shard" {\n  region = "us-east-1"\n  endpoints {\n    elbv2 = "%s"\n    eks = "%s"\n'
            '    sts = "%s"\n  }\n%s}\n%s\n' % (endpoint, endpoint, endpoint, hub_block, body))


# ---------------------------------------------------------------------------------------------
# aws: start-up, memory, AWS calls, plan time, parallel applies

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


class Bench:
    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="shard-bench")
        self.moto, self.endpoint = start_moto([os.path.join(ROOT, ".bench/bin/moto_server")])
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
        write_cli_config(self.cli, self.wrap_dir)
        # Timings use the binary itself: the RSS wrapper's Python start-up would be counted in.
        self.cli_direct = os.path.join(self.work, "cli-direct.tfrc")
        write_cli_config(self.cli_direct, os.path.dirname(BIN))

    def close(self):
        self.moto.kill()

    def fixture(self, *args):
        out = subprocess.run([PY, FIXTURE, *args], env=dict(os.environ, MOTO_ENDPOINT=self.endpoint),
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)

    def env(self, log, direct=False):
        """direct: the binary itself and no logs (for timings; a path: that CLI config); else the
        RSS wrapper, DEBUG logs."""
        if direct:
            return tf_env(direct if isinstance(direct, str) else self.cli_direct, None)
        return tf_env(self.cli, log)

    def workspace(self, name, body):
        d = os.path.join(self.work, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "main.tf"), "w") as f:
            f.write(main_tf(self.endpoint, body))
        return d

    def tf(self, d, *args, log="tf.log", direct=False, ok=(0,), extra_env=None):
        log = os.path.join(d, log)
        env = dict(self.env(log, direct), **(extra_env or {}))
        r = subprocess.run([TF, args[0], "-no-color", "-input=false", *args[1:]], cwd=d, env=env,
                           capture_output=True, text=True)
        if r.returncode not in ok:
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


PEER = os.environ.get("PEER_PROVIDER", "")
# Optional: another build of this provider timed in the same plan comparison (before/after a change).
BASELINE = os.environ.get("SHARD_BASELINE_BIN", "")
PLAN_RUNS = int(os.environ.get("PLAN_RUNS", "15"))
# Optional: this provider built with the `bench-probes` feature (benchmark.sh builds it with
# PLAN_PROBES=1): its two no-work types split the plan's time (src/resources/bench_probes.rs).
PROBES = os.environ.get("SHARD_PROBES_BIN", "")


def spread(xs):
    """median, and the middle half and whole range, of timings in seconds, as ms."""
    xs = sorted(xs)
    q = lambda f: xs[round((len(xs) - 1) * f)] * 1000
    return statistics.median(xs) * 1000, q(0.25), q(0.75), xs[0] * 1000, xs[-1] * 1000


def launch_kind(rpcs):
    """Which of a plan's three provider launches a timing line is, by the RPCs it served."""
    if "GetProviderSchema" in rpcs:
        return "1 schema"
    if "PlanResourceChange" in rpcs or "ReadResource" in rpcs:
        return "3 plan walk"
    return "2 validate walk"


def plan_report(b):
    """A plan of 20 applied shard_weight (4 listeners x 5 target groups) next to the same plan over
    20 `noop_thing` of the Go no-op provider (PEER_PROVIDER; skipped when unset) and 20
    `terraform_data` (builtin: no plugin process), refresh on and off, interleaved in one run;
    then where the provider's own time goes (SHARD_RPC_TIMINGS, in untimed plans)."""
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
    cases = [("shard_weight", many, True)]
    if BASELINE:
        # The same plan through another build of the provider (e.g. before a change), in the same run.
        cases.append(("shard_weight, baseline binary", many, cli_config_for_build(b.work, "baseline", BASELINE)))
    if PEER:
        peer = os.path.join(b.work, "plan-20-noop")
        os.makedirs(peer)
        with open(os.path.join(peer, "main.tf"), "w") as f:
            f.write('terraform {\n  required_providers {\n    noop = { source = "example.com/peer/noop" }\n  }\n}\n'
                    'provider "noop" {}\n'
                    + "".join(f'resource "noop_thing" "t{i}" {{\n  name = "thing-{i}"\n  value = {i}\n}}\n'
                              for i in range(20)))
        # dev_overrides for both providers in the timing CLI config.
        with open(b.cli_direct, "w") as f:
            f.write('provider_installation {\n  dev_overrides {\n    "shardkit/shard" = "%s"\n'
                    '    "example.com/peer/noop" = "%s"\n  }\n  direct {}\n}\n'
                    % (os.path.dirname(BIN), os.path.dirname(PEER)))
        b.tf(peer, "apply", "-auto-approve", direct=True)
        cases.append(("Go no-op (noop_thing)", peer, True))
    if PROBES:
        probe_cli = cli_config_for_build(b.work, "probes", PROBES)
        noop_body = "".join(f'resource "shard_bench_noop" "t{i}" {{\n  name = "thing-{i}"\n  value = {i}\n}}\n'
                            for i in range(20))
        wide_body = body.replace('resource "shard_weight"', 'resource "shard_bench_wide"')
        for label, name, probe_body in (
                ("shard_bench_noop (ours, no work, noop_thing's schema)", "plan-20-bench-noop", noop_body),
                ("shard_bench_wide (ours, no work, shard_weight's schema)", "plan-20-bench-wide", wide_body)):
            d = b.workspace(name, probe_body)
            b.tf(d, "apply", "-auto-approve", direct=probe_cli)
            cases.append((label, d, probe_cli))
    cases.append(("terraform_data", stand_in, True))

    def timed(d, cli, *extra):
        start = time.perf_counter()
        b.tf(d, "plan", "-detailed-exitcode", *extra, log="plan-timed.log", direct=cli, ok=(0,))
        return time.perf_counter() - start

    runs = [(name, d, cli, extra) for extra in ((), ("-refresh=false",)) for name, d, cli in cases]
    times = {(name, extra): [] for name, _, _, extra in runs}
    load_before = os.getloadavg()
    for i in range(PLAN_RUNS):
        # Interleaved, each round starting one case later, so no case always follows the same one.
        for name, d, cli, extra in runs[i % len(runs):] + runs[:i % len(runs)]:
            times[(name, extra)].append(timed(d, cli, *extra))
    load_after = os.getloadavg()
    b.tf(many, "plan", log="plan-calls.log")
    refresh_calls = api_calls(os.path.join(many, "plan-calls.log"))

    lines = [f"## Plan of 20 resources, already applied ({PLAN_RUNS} interleaved runs per case, one run)", "",
             f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} ({os.cpu_count()} cores); "
             f"wall time of `terraform plan` (median; middle half; range), ms", ""]
    if not PEER:
        lines += ["(the Go no-op provider was skipped: see scripts/bench-peer.sh)", ""]
    lines += ["| provider | plan (refresh on) | plan -refresh=false |", "| --- | --- | --- |"]
    med = {}
    for name, _, _ in cases:
        cells = []
        for extra in ((), ("-refresh=false",)):
            m, q1, q3, lo, hi = spread(times[(name, extra)])
            med[(name, extra)] = m
            cells.append(f"{m:.0f} ({q1:.0f}–{q3:.0f}; {lo:.0f}–{hi:.0f})")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    lines.append("")
    for extra, label in (((), "refresh on"), (("-refresh=false",), "-refresh=false")):
        for other, _, _ in cases[1:]:
            lines.append(f"- {label}: shard_weight / {other} = **{med[('shard_weight', extra)] / med[(other, extra)]:.2f}x**")
    lines += [f"- AWS calls of one shard_weight plan (refresh on): {json.dumps(refresh_calls, sort_keys=True)}", ""]

    # Peak RSS of the provider processes of a plan (refresh on), through a wrapper that records
    # each process's maximum resident set when it exits (untimed); per build when a baseline is given.
    builds = [("shard_weight", BIN)] + ([("shard_weight, baseline binary", BASELINE)] if BASELINE else [])
    rss = {name: [] for name, _ in builds}
    wrappers = {}
    for name, binary in builds:
        wdir = os.path.join(b.work, f"rss-{len(wrappers)}")
        os.makedirs(wdir)
        log = os.path.join(wdir, "rss.log")
        with open(os.path.join(wdir, "terraform-provider-shard"), "w") as f:
            f.write(f"""#!{PY}
import resource, subprocess, sys
p = subprocess.run([{binary!r}] + sys.argv[1:])
with open({log!r}, "a") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) + "\\n")
sys.exit(p.returncode)
""")
        os.chmod(os.path.join(wdir, "terraform-provider-shard"), 0o755)
        cli = os.path.join(wdir, "cli.tfrc")
        write_cli_config(cli, wdir)
        wrappers[name] = (cli, log)
    for _ in range(5):
        for name, _ in builds:
            cli, log = wrappers[name]
            open(log, "w").close()
            b.tf(many, "plan", log="plan-rss.log", direct=cli)
            rss[name].append(max(int(x) for x in open(log).read().split()) / 1024)
    lines += ["Peak RSS of a provider process during the plan (refresh on; the largest of its three launches, "
              "median of 5 plans): " + "; ".join(f"{name} {statistics.median(v):.1f} MB" for name, v in rss.items()), ""]

    # Where the provider's time goes: the same plan with SHARD_RPC_TIMINGS, untimed.
    timings = os.path.join(b.work, "rpc-timings.jsonl")
    open(timings, "w").close()
    for _ in range(5):
        b.tf(many, "plan", log="plan-rpc.log", direct=True, extra_env={"SHARD_RPC_TIMINGS": timings})
    by_kind = {}
    for line in open(timings):
        entry = json.loads(line)
        by_kind.setdefault(launch_kind(entry["rpcs"]), []).append(entry)
    lines += ["### Inside the provider: each launch of a plan (SHARD_RPC_TIMINGS, medians of 5 plans)", "",
              "Milestones in ms since `main` started; RPCs as count × p50 µs (sum µs). The RPC time runs "
              "from the request reaching the server to its response's last frame.", "",
              "| launch | logging | runtime | schemas | listener | TLS config | handshake line | first RPC | "
              "end | TLS handshake µs | RPCs |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for kind in sorted(by_kind):
        entries = by_kind[kind]
        m = lambda key: statistics.median(e["milestones_ms"].get(key, float("nan")) for e in entries)
        # go-plugin's broker and stdio streams last as long as the process: not calls.
        rpc_names = sorted(n for n in {n for e in entries for n in e["rpcs"]}
                           if n != "TLS handshake" and not n.startswith(("GRPCBroker/", "GRPCStdio/")))
        med_rpc = lambda n, k: statistics.median(e["rpcs"][n][k] for e in entries if n in e["rpcs"])
        tls_us = med_rpc("TLS handshake", "p50_us") if any("TLS handshake" in e["rpcs"] for e in entries) else float("nan")
        rpcs = "; ".join(f"{n} {med_rpc(n, 'count'):.0f}×{med_rpc(n, 'p50_us'):.0f} ({med_rpc(n, 'total_us'):.0f})"
                         for n in rpc_names)
        lines.append(f"| {kind} ({len(entries)}) | {m('logging'):.2f} | {m('runtime'):.2f} | {m('schemas'):.2f} | "
                     f"{m('listener'):.2f} | {m('tls_config'):.2f} | {m('handshake_line'):.2f} | {m('first_rpc'):.2f} | "
                     f"{m('summary'):.2f} | {tls_us:.0f} | {rpcs} |")
    return lines + [""]


def aws_report():
    t = handshake_times()
    report = [f"## Start-up to handshake line ({len(t)} starts, AutoMTLS with a P-521 client cert)", "",
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

        report += plan_report(b)

        # 20 shard directories applying at once on one (fresh) listener: 5 on the default action,
        # 5 on each of three rules (ALB allows 5 target groups per forward action).
        race = b.fixture("topology", "weights=1,1,1,1,1", "name=race")
        elb = boto3.client("elbv2", endpoint_url=b.endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
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
    return report


# ---------------------------------------------------------------------------------------------
# argocd: shard_argocd_cluster_registration

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

    def application_set(self, ns, name, selector):
        """An ApplicationSet with a cluster generator; returns its uid (for owner references)."""
        path = f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/applicationsets"
        body = {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": {"name": name},
                "spec": {"generators": [{"clusters": {"selector": {"matchLabels": selector}}}],
                         "template": {"metadata": {"name": f"{name}-{{{{name}}}}"},
                                      "spec": {"project": "default",
                                               "destination": {"server": "{{server}}", "namespace": name},
                                               "source": {"repoURL": "https://example.com/web.git", "path": name}}}}}
        code, created = self.call("POST", path, body)
        assert code in (200, 201), created
        return created["metadata"]["uid"]

    def secret_labels(self, ns, name):
        code, body = self.call("GET", f"/api/v1/namespaces/{ns}/secrets/{name}")
        return (body.get("metadata") or {}).get("labels") or {} if code == 200 else None

    def generate(self, ns, name, server, finalizer=False, owner=None):
        meta = {"name": name}
        if finalizer:
            meta["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
        if owner:
            meta["ownerReferences"] = [{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
                                        "name": owner[0], "uid": owner[1], "controller": True}]
        app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta,
               "spec": {"project": "default", "destination": {"server": server, "namespace": "web"},
                        "source": {"repoURL": "https://example.com/web.git", "path": "deploy"}}}
        code, body = self.call("POST", self.apps(ns), app)
        assert code in (200, 201), body

    def patch_app(self, ns, name, patch):
        code, body = self.call("PATCH", f"{self.apps(ns)}/{name}", patch, "application/merge-patch+json")
        assert code == 200, body

    def status(self, ns, name, sync, health, server):
        """What Argo CD's application controller writes after a comparison (controller/state.go
        CompareAppState, controller/appcontroller.go): the destination compared with, when, and
        the automated sync that ran."""
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        op = {"sync": {"revision": "HEAD"}, "initiatedBy": {"automated": True}}
        self.patch_app(ns, name, {"status": {
            "sync": {"status": sync, "comparedTo": {"destination": {"server": server, "namespace": "web"}}},
            "health": {"status": health}, "reconciledAt": now,
            "operationState": {"operation": op, "phase": "Succeeded", "startedAt": now, "finishedAt": now}}})

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
        write_cli_config(cli, os.path.dirname(BIN))
        self.env = tf_env(cli, os.path.join(self.dir, "terraform.log"))
        with open(os.path.join(self.dir, "main.tf"), "w") as f:
            f.write(main_tf(moto, body, hub=hub_body))

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


def argocd_report():
    kube_dir = tempfile.mkdtemp(prefix="shard-argocd-kube")
    subprocess.run(["bash", os.path.join(ROOT, "scripts/kube-cluster.sh"), "start", kube_dir, str(os.getpid())],
                   check=True, stderr=subprocess.DEVNULL)
    moto = None
    try:
        moto, endpoint = start_moto([PY, os.path.join(ROOT, "tests/fixtures/eks_moto.py")])
        kube = Kube(kube_dir)
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
                                                            '  aws_auth {\n    role_arn = "arn:aws:iam::111122223333:role/argocd"\n  }'))
        ws.run("init")
        log_from = len(ws.log())
        t = time.perf_counter()
        ws.run("apply", "-auto-approve")
        apply_s = time.perf_counter() - t
        requests = kube.audit(ns)
        describes = ws.log()[log_from:].count("aws_call=DescribeCluster")
        report.append(("API requests of a registration with `eks_cluster_name`, no wait (apply of a create)",
                       "1 list + 1 create + 1 SSA patch + 1 DescribeCluster",
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
            owner = ("web", kube.application_set(ns, "web", {"fleet": "shards"}))
            ws = Workspace(endpoint, hub_body(ns),
                           registration(f"shard-{i}", f'  server = "{server}"\n  labels = {{ fleet = "shards" }}\n'
                                                      f'  exec {{\n    command = "argocd-k8s-auth"\n  }}\n'
                                                      '  wait_for_sync {\n    min_applications = 2\n  }'))
            ws.run("init")
            p = ws.start("apply", "-auto-approve")
            wait_for(lambda: kube.secret_exists(ns, f"cluster-shard-{i}"), "Secret written")
            # The ApplicationSet controller generates two Applications for the new cluster.
            apps = [f"{app}-shard-{i}" for app in ("web", "api")]
            for app in apps:
                kube.generate(ns, app, server, finalizer=True, owner=owner)
                kube.status(ns, app, "OutOfSync", "Progressing", server)
            kube.status(ns, apps[0], "Synced", "Healthy", server)
            time.sleep(0.5)
            assert p.poll() is None, p.stdout.read()
            t0 = time.perf_counter()
            kube.status(ns, apps[1], "Synced", "Healthy", server)
            out, _ = p.communicate()
            sync_lat.append((time.perf_counter() - t0) * 1000)
            assert p.returncode == 0, out

            # wait_for_removal: the provider takes the label off (server-side apply), the
            # ApplicationSet controller deletes the Applications, their finalizers finish, the
            # last one goes -> the provider deletes the Secret and the destroy returns.
            p = ws.start("destroy", "-auto-approve")
            wait_for(lambda: "fleet" not in (kube.secret_labels(ns, f"cluster-shard-{i}") or {"fleet": 1}),
                     "label removed")
            for app in apps:
                kube.call("DELETE", f"{kube.apps(ns)}/{app}")
            kube.patch_app(ns, apps[0], {"metadata": {"finalizers": None}})
            time.sleep(0.5)
            assert p.poll() is None, p.stdout.read()
            assert kube.secret_exists(ns, f"cluster-shard-{i}"), "the Secret goes last"
            t0 = time.perf_counter()
            kube.patch_app(ns, apps[1], {"metadata": {"finalizers": None}})
            out, _ = p.communicate()
            removal_lat.append((time.perf_counter() - t0) * 1000)
            assert p.returncode == 0, out
            assert not kube.secret_exists(ns, f"cluster-shard-{i}"), "the Secret is deleted"

        def summary(xs):
            xs = sorted(xs)
            return f"**{statistics.median(xs):.0f} ms** median (min {xs[0]:.0f}, max {xs[-1]:.0f}, {len(xs)} runs)"

        report.append(("Last Application Synced+Healthy → `terraform apply` returns (wait_for_sync)", "≤ 1 s",
                       summary(sync_lat)))
        report.append(("Last Application gone → `terraform destroy` returns (wait_for_removal: then the Secret is deleted)", "≤ 1 s",
                       summary(removal_lat)))
        lines = ["## Argo CD cluster registration", "", "| What | Target | Measured |", "| --- | --- | --- |"]
        lines += [f"| {what} | {target} | {measured} |" for what, target, measured in report]
        return lines + [""]
    finally:
        if moto:
            moto.kill()
        subprocess.run(["bash", os.path.join(ROOT, "scripts/kube-cluster.sh"), "stop", kube_dir])


def main():
    report = ["# Benchmark run", "", f"- binary: release, {os.path.getsize(BIN) / 1e6:.1f} MB",
              f"- machine: {os.cpu_count()} cores, {datetime.date.today()}", ""]
    unknown = set(PARTS) - {"aws", "argocd", "plan"}
    if unknown:
        raise SystemExit(f"benchmark.py: unknown part(s) {sorted(unknown)}: aws, argocd, plan")
    if "aws" in PARTS:
        report += aws_report()
    elif "plan" in PARTS:
        b = Bench()
        try:
            report += plan_report(b)
        finally:
            b.close()
    if "argocd" in PARTS:
        report += argocd_report()
    print("\n".join(report))


if __name__ == "__main__":
    main()
