#!/usr/bin/env python3
"""Release packages for terraform-provider-shard, in the shape the Terraform Registry and
`terraform providers mirror` use (called by scripts/release.sh; stdlib only).

Asset layout, from HashiCorp's "Publish providers" page, section "Manually Preparing a Release"
(https://developer.hashicorp.com/terraform/registry/providers/publishing):
  - one zip per platform, `terraform-provider-{NAME}_{VERSION}_{OS}_{ARCH}.zip`, holding the binary
    `terraform-provider-{NAME}_v{VERSION}`;
  - `terraform-provider-{NAME}_{VERSION}_manifest.json`, the Registry manifest
    (`{"version": 1, "metadata": {"protocol_versions": [...]}}`; the default is ["5.0"], so a
    protocol-6 provider must say "6.0");
  - `terraform-provider-{NAME}_{VERSION}_SHA256SUMS`, "a SHA-256 checksum for each zip file and the
    manifest file in the release" (`shasum -a 256` format: hex, two spaces, file name);
  - `..._SHA256SUMS.sig`, a detached binary GPG signature of SHA256SUMS. Not made here: signing
    needs the release key, and a filesystem mirror does not read it.

The zip is deterministic: one entry, fixed timestamp (1980-01-01, the zip epoch), mode 0755,
Unix "made by", deflate at a fixed level, no extra fields. The same binary therefore gives the same
zip bytes and the same SHA-256 (on a given zlib; deflate output is not promised across zlib
versions).

Usage:
  release_package.py version CARGO_TOML
  release_package.py package --binary PATH --version V --platform OS_ARCH --out DIR [--mirror DIR]
  release_package.py glibc-floor BINARY_OR_ZIP [--max 2.17]
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import struct
import sys
import tempfile
import zipfile

NAME = "terraform-provider-shard"
# The provider's registry address, as `terraform init` looks it up in a filesystem mirror.
HOSTNAME, NAMESPACE, TYPE = "registry.terraform.io", "shardkit", "shard"
# Plugin protocol major version 6 (tfplugin6): the Registry manifest's notation is "6.0".
PROTOCOL_VERSIONS = ["6.0"]
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
PLATFORM = re.compile(r"^(linux|darwin|windows|freebsd|openbsd)_(amd64|arm64|386|arm)$")


def cargo_version(cargo_toml):
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # older Pythons: the first `version = "..."` of the [package] table
        text = open(cargo_toml, encoding="utf-8").read()
        package = text.split("[package]", 1)[1].split("\n[", 1)[0]
        return re.search(r'^version\s*=\s*"([^"]+)"', package, re.M).group(1)
    with open(cargo_toml, "rb") as f:
        return tomllib.load(f)["package"]["version"]


def write_atomically(path, data):
    """Writes bytes to `path` via a temporary file in the same directory and a rename."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def zip_bytes(binary, entry_name):
    """The provider zip: one executable entry, with nothing in it that depends on when or where
    it was made."""
    info = zipfile.ZipInfo(entry_name, date_time=ZIP_EPOCH)
    info.create_system = 3  # Unix, so that the mode below is honoured on extraction
    info.external_attr = (0o100755 & 0xFFFF) << 16  # regular file, rwxr-xr-x
    info.compress_type = zipfile.ZIP_DEFLATED
    with tempfile.TemporaryFile() as buf:
        with zipfile.ZipFile(buf, "w") as z, open(binary, "rb") as src:
            with z.open(info, "w", force_zip64=False) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        buf.seek(0)
        return buf.read()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package(binary, version, platform, out, mirror):
    if not PLATFORM.match(platform):
        sys.exit(f"release: platform {platform!r} is not OS_ARCH (e.g. linux_amd64)")
    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        sys.exit(f"release: {binary} is not an executable file")
    os.makedirs(out, exist_ok=True)
    prefix = f"{NAME}_{version}"
    zip_name = f"{prefix}_{platform}.zip"
    zip_path = os.path.join(out, zip_name)
    write_atomically(zip_path, zip_bytes(binary, f"{NAME}_v{version}"))

    manifest_name = f"{prefix}_manifest.json"
    manifest = {"version": 1, "metadata": {"protocol_versions": PROTOCOL_VERSIONS}}
    write_atomically(os.path.join(out, manifest_name), (json.dumps(manifest, indent=2) + "\n").encode())

    # SHA256SUMS covers every platform zip of this version already in `out` (packages for other
    # platforms may have been made by earlier runs) and the manifest, sorted by name.
    names = sorted(
        n for n in os.listdir(out)
        if (n.startswith(prefix + "_") and n.endswith(".zip") and PLATFORM.match(n[len(prefix) + 1:-4]))
        or n == manifest_name
    )
    sums_name = f"{prefix}_SHA256SUMS"
    sums = "".join(f"{sha256_file(os.path.join(out, n))}  {n}\n" for n in names)
    write_atomically(os.path.join(out, sums_name), sums.encode())
    print(f"release: {zip_path}")
    print(f"release: {os.path.join(out, sums_name)}")

    if mirror:
        # A packed filesystem mirror: HOSTNAME/NAMESPACE/TYPE/<the release zip, same name>.
        target_dir = os.path.join(mirror, HOSTNAME, NAMESPACE, TYPE)
        os.makedirs(target_dir, exist_ok=True)
        with open(zip_path, "rb") as f:
            write_atomically(os.path.join(target_dir, zip_name), f.read())
        print(f"release: mirror {os.path.join(target_dir, zip_name)}")


def elf_version_needs(data):
    """The (library, version) pairs an ELF64 little-endian binary's dynamic symbols need: its
    SHT_GNU_verneed section, as `objdump -T` / `readelf -V` show it. Layouts from the ELF gABI
    (section headers) and the LSB's "Symbol Versioning" (Elfxx_Verneed, Elfxx_Vernaux)."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF binary")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    needs = []
    for _name, sh_type, _f, _a, offset, _size, link, info, _al, _es in sections:
        if sh_type != 0x6FFFFFFE:  # SHT_GNU_verneed
            continue
        strtab = sections[link][4]

        def text(at):
            end = data.index(b"\0", strtab + at)
            return data[strtab + at:end].decode()

        entry = offset
        for _ in range(info):  # sh_info: the number of Verneed entries
            _ver, count, file_name, aux, next_entry = struct.unpack_from("<HHIII", data, entry)
            at = entry + aux
            for _ in range(count):
                _hash, _flags, _other, name, next_aux = struct.unpack_from("<IHHII", data, at)
                needs.append((text(file_name), text(name)))
                at += next_aux
            entry += next_entry
    return needs


def glibc_floor(data):
    """The highest GLIBC_x.y version the binary needs (the oldest glibc it runs on), as a tuple;
    (0,) for a binary that needs no versioned glibc symbol (static, or musl)."""
    versions = [tuple(int(p) for p in v[len("GLIBC_"):].split(".")) for _lib, v in elf_version_needs(data)
                if re.fullmatch(r"GLIBC_[0-9]+(\.[0-9]+)*", v)]
    return max(versions, default=(0,))


def binary_bytes(path):
    """The binary itself, or the one entry of a release zip."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if len(names) != 1:
                raise ValueError(f"{path}: expected one entry, found {names}")
            return z.read(names[0])
    with open(path, "rb") as f:
        return f.read()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("version")
    v.add_argument("cargo_toml")
    k = sub.add_parser("package")
    k.add_argument("--binary", required=True)
    k.add_argument("--version", required=True)
    k.add_argument("--platform", required=True)
    k.add_argument("--out", required=True)
    k.add_argument("--mirror")
    g = sub.add_parser("glibc-floor", help="the highest GLIBC_ symbol version a binary (or release zip) needs")
    g.add_argument("binary")
    g.add_argument("--max", help="fail unless the floor is at most this version, e.g. 2.17")
    a = p.parse_args()
    if a.cmd == "version":
        print(cargo_version(a.cargo_toml))
    elif a.cmd == "glibc-floor":
        floor = glibc_floor(binary_bytes(a.binary))
        shown = ".".join(map(str, floor)) if floor != (0,) else "none"
        print(f"release: {os.path.basename(a.binary)} needs glibc {shown} (highest GLIBC_ symbol version)")
        if a.max and floor > tuple(int(x) for x in a.max.split(".")):
            sys.exit(f"release: {a.binary} needs glibc {shown}, above the floor {a.max}: it will not start on "
                     f"older Linux (build with cargo-zigbuild: --target <triple>.{a.max})")
    else:
        package(a.binary, a.version, a.platform, a.out, a.mirror)


if __name__ == "__main__":
    main()
