#!/usr/bin/env bash
# Start-up of provider binaries side by side: `bash scripts/bench-startup.sh BIN [BIN...]`.
# For each binary: its size, the time from exec to the handshake line (AutoMTLS with a P-521
# client certificate, as Terraform sends) and its resident memory at that point, over ROUNDS (30)
# interleaved rounds (A, B, A, B, ...), medians and spread. Used to compare release profiles
# (docs/benchmarks.md, "Binary size"); `make benchmark` measures the current build's start-up.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || { echo "usage: bench-startup.sh BIN [BIN...]" >&2; exit 2; }
exec "$root/.bench/venv/bin/python3" - "$@" <<'PY'
import os, statistics, subprocess, sys, time
sys.argv = [sys.argv[0]] + sys.argv[1:]
bins = sys.argv[1:]
rounds = int(os.environ.get("ROUNDS", "30"))
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import datetime
key = ec.generate_private_key(ec.SECP521R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA512()))
env = dict(os.environ, TF_PLUGIN_MAGIC_COOKIE="d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
           PLUGIN_PROTOCOL_VERSIONS="5,6", PLUGIN_CLIENT_CERT=cert.public_bytes(serialization.Encoding.PEM).decode())
for k in ("TF_LOG", "TF_LOG_PROVIDER", "SHARD_RPC_TIMINGS"):
    env.pop(k, None)
times = {b: [] for b in bins}
rss = {b: [] for b in bins}
for i in range(rounds):
    for b in bins[i % len(bins):] + bins[:i % len(bins)]:
        start = time.perf_counter()
        p = subprocess.Popen([b], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = p.stdout.readline()
        times[b].append((time.perf_counter() - start) * 1000)
        assert line.startswith(b"1|6|"), line
        with open(f"/proc/{p.pid}/status") as f:
            status = dict(l.split(":", 1) for l in f if ":" in l)
        rss[b].append(int(status["VmRSS"].split()[0]) / 1024)
        p.kill()
        p.wait()
load = os.getloadavg()[0]
print(f"{rounds} interleaved rounds, load average {load:.1f} on {os.cpu_count()} cores")
print("| binary | size | exec → handshake line, median (p25–p75; min–max) | RSS at the handshake line, median |")
print("| --- | --- | --- | --- |")
for b in bins:
    t = sorted(times[b])
    q = lambda f: t[round((len(t) - 1) * f)]
    print(f"| {b} | {os.path.getsize(b) / 1e6:.1f} MB | {statistics.median(t):.2f} ms ({q(0.25):.2f}–{q(0.75):.2f}; "
          f"{t[0]:.2f}–{t[-1]:.2f}) | {statistics.median(rss[b]):.1f} MB |")
PY
