#!/usr/bin/env python3
"""Generates docs/ (Terraform Registry layout) from the provider's own schema, the way HashiCorp's
tfplugindocs does: the real Terraform CLI runs `terraform providers schema -json` against the
built provider binary (installed through a dev_overrides CLI config; no `init` needed), and each
type's page is rendered from its template in templates/ with the generated parts filled in.

    python3 scripts/docs.py            # regenerate docs/ (what `make docs` runs)
    python3 scripts/docs.py --check    # exit 1 with a unified diff when docs/ is stale

Templates (templates/index.md.tmpl, templates/resources/<name>.md.tmpl,
templates/data-sources/<name>.md.tmpl, templates/ephemeral-resources/<name>.md.tmpl,
templates/list-resources/<name>.md.tmpl, templates/actions/<name>.md.tmpl; <name> without the
`shard_` prefix) are Markdown with these placeholders:

    {{ .Name }}              shard_weight (the provider page: shard)
    {{ .Type }}              Resource, Data Source, Ephemeral Resource, List Resource, Action or Provider
    {{ .ProviderName }}      shard
    {{ .Description }}       the schema's description of the type (pipe `| prefixlines "  "` to indent)
    {{ .SchemaMarkdown }}    the generated "## Schema" section
    {{ .Types }}             (index only) a table of every type with a link and its description's first sentence
    {{ .Example }}           the type's example file (examples/<kind>/<type>/<kind>.tf) as a code block
    {{ .Import }}            import.sh, the equivalent `import` block and, for types with a resource
                             identity, the identity import block with the identity's attributes
    {{ tffile "path" }}      any file of the repository as a `terraform` code block
    {{ codefile "lang" "path" }}  any file as a code block of that language

A type without a template gets a default page. Only stdlib; run with .bench/venv/bin/python3.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_SOURCE = "shardkit/shard"
PROVIDER_ADDRESS = "registry.terraform.io/" + PROVIDER_SOURCE
PROVIDER_NAME = "shard"
BINARY_NAME = "terraform-provider-" + PROVIDER_NAME
REGENERATE = "make docs  (or: .bench/venv/bin/python3 scripts/docs.py)"

# kind -> (schema key, docs/ and templates/ folder, examples/ folder, example file, page type)
KINDS = {
    "resource": ("resource_schemas", "resources", "resources", "resource.tf", "Resource"),
    "data-source": ("data_source_schemas", "data-sources", "data-sources", "data-source.tf", "Data Source"),
    "ephemeral": (
        "ephemeral_resource_schemas",
        "ephemeral-resources",
        "ephemeral-resources",
        "ephemeral-resource.tf",
        "Ephemeral Resource",
    ),
    # Terraform 1.14+: `list` blocks in .tfquery.hcl files, and `action` blocks.
    "list-resource": (
        "list_resource_schemas",
        "list-resources",
        "list-resources",
        "list-resource.tfquery.hcl",
        "List Resource",
    ),
    "action": ("action_schemas", "actions", "actions", "action.tf", "Action"),
}

# A description sentence stating that a change destroys and recreates the object; shown as the
# "Forces replacement" flag instead (tfplugin6 schemas do not carry RequiresReplace).
REPLACES = re.compile(r"\s*Changing (?:it|this) forces replacement\.")
WRITE_ONLY = "[Write-only](https://developer.hashicorp.com/terraform/language/resources/ephemeral#write-only-arguments)"

DEFAULT_TEMPLATE = """---
page_title: "{{ .Name }} {{ .Type }} - {{ .ProviderName }}"
subcategory: ""
description: |-
{{ .Description | prefixlines "  " }}
---

# {{ .Name }} ({{ .Type }})

{{ .Description }}

{{ .Example }}

{{ .SchemaMarkdown }}
"""


class DocsError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# The schema, from the real CLI


def provider_schema(terraform: Path, binary: Path) -> dict:
    """`terraform providers schema -json` in a scratch directory whose CLI config installs
    `binary` through dev_overrides. With dev_overrides and no other provider, no `init` is needed."""
    if not binary.is_file():
        raise DocsError(f"provider binary {binary} not found: build it first (cargo build --bin {BINARY_NAME})")
    if not terraform.exists():
        raise DocsError(f"{terraform} not found: run `make bench` (scripts/bench-setup.sh) first")
    with tempfile.TemporaryDirectory(prefix="shard-docs-") as tmp:
        tmp = Path(tmp)
        plugin_dir = tmp / "plugins"
        plugin_dir.mkdir()
        # dev_overrides looks for terraform-provider-<name> in the directory.
        (plugin_dir / BINARY_NAME).symlink_to(binary.resolve())
        cli = tmp / "cli.tfrc"
        cli.write_text(
            "provider_installation {\n"
            f'  dev_overrides {{ "{PROVIDER_SOURCE}" = "{plugin_dir}" }}\n'
            "  direct {}\n"
            "}\n"
        )
        work = tmp / "config"
        work.mkdir()
        (work / "main.tf").write_text(
            'terraform {\n  required_providers {\n    shard = { source = "' + PROVIDER_SOURCE + '" }\n  }\n}\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
        env.update(
            TF_CLI_CONFIG_FILE=str(cli),
            TF_IN_AUTOMATION="1",
            CHECKPOINT_DISABLE="1",
            TF_DATA_DIR=str(tmp / "data"),
        )
        out = subprocess.run(
            [str(terraform), "providers", "schema", "-json"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if out.returncode != 0:
            raise DocsError(f"terraform providers schema -json failed ({out.returncode}):\n{out.stderr}{out.stdout}")
    try:
        schemas = json.loads(out.stdout)["provider_schemas"]
        return schemas[PROVIDER_ADDRESS]
    except (ValueError, KeyError) as e:
        raise DocsError(f"unexpected output of terraform providers schema -json ({e!r}):\n{out.stdout[:2000]}")


# ---------------------------------------------------------------------------------------------
# The schema section


def type_name(t) -> str:
    if isinstance(t, str):
        return {"string": "String", "number": "Number", "bool": "Bool", "dynamic": "Dynamic"}.get(t, t)
    kind, inner = t[0], t[1]
    if kind in ("list", "set", "map"):
        return f"{kind.capitalize()} of {type_name(inner)}"
    if kind == "object":
        return "Object"
    if kind == "tuple":
        return "Tuple"
    return str(t)


def describe(text: str) -> tuple[str, bool]:
    """The description to show and whether it said a change forces replacement."""
    text = (text or "").strip()
    replaces = bool(REPLACES.search(text))
    return REPLACES.sub("", text).strip(), replaces


def mode(a: dict) -> list[str]:
    if a.get("required"):
        return ["Required"]
    if a.get("optional") and a.get("computed"):
        return ["Optional", "Computed"]
    if a.get("optional"):
        return ["Optional"]
    return ["Computed"]


def group(a: dict) -> str:
    if a.get("required"):
        return "Required"
    if a.get("optional"):
        return "Optional"
    return "Read-Only"


class SchemaWriter:
    """Renders a block as tfplugindocs does: Required / Optional / Read-Only groups, each nested
    block or nested attribute in a section of its own with an anchor."""

    def render(self, block: dict) -> str:
        text, nested = self.groups(block, [], heading="###")
        return ("## Schema\n\n" + text + "".join(self.section(*n) for n in nested)).rstrip() + "\n"

    def section(self, anchor: str, title: str, inner: dict) -> str:
        """A nested block's or attribute's section, followed by those of its own nested ones."""
        text, nested = self.groups(inner, title.split("."), heading=None)
        out = f'<a id="{anchor}"></a>\n### Nested Schema for `{title}`\n\n' + text
        return out + "".join(self.section(*n) for n in nested)

    def groups(self, block: dict, path: list[str], heading: str | None):
        items: dict[str, list[tuple[str, str]]] = {"Required": [], "Optional": [], "Read-Only": []}
        nested: list[tuple[str, str, dict]] = []
        for name, a in block.get("attributes", {}).items():
            line, sub = self.attribute(name, a, path)
            items[group(a)].append((name, line))
            if sub is not None:
                nested.append(sub)
        for name, b in block.get("block_types", {}).items():
            line, sub = self.block(name, b, path)
            items["Required" if b.get("min_items", 0) > 0 else "Optional"].append((name, line))
            nested.append(sub)
        out = []
        for title in ("Required", "Optional", "Read-Only"):
            if not items[title]:
                continue
            out.append(f"{heading} {title}\n\n" if heading else f"{title}:\n\n")
            out.extend(line + "\n" for _, line in sorted(items[title]))
            out.append("\n")
        return "".join(out), sorted(nested, key=lambda n: n[1])

    def attribute(self, name: str, a: dict, path: list[str]):
        desc, replaces = describe(a.get("description", ""))
        sub = None
        if "nested_type" in a:
            nt = a["nested_type"]
            kind = {"single": "Attributes", "list": "Attributes List", "set": "Attributes Set", "map": "Attributes Map"}[
                nt.get("nesting_mode", "single")
            ]
            anchor = "nestedatt--" + "--".join(path + [name])
            sub = (anchor, ".".join(path + [name]), nt)
        else:
            kind = type_name(a.get("type"))
        flags = [kind] + mode(a)
        if a.get("sensitive"):
            flags.append("Sensitive")
        if a.get("write_only"):
            flags.append(WRITE_ONLY)
        if a.get("deprecated"):
            flags.append("Deprecated")
        if replaces:
            flags.append("Forces replacement")
        text = desc
        if a.get("deprecated"):
            msg = a.get("deprecation_message") or "Deprecated."
            text = f"**Deprecated:** {msg} {text}".strip()
        if sub:
            text = f"{text} (see [below for nested schema](#{sub[0]}))".strip()
        return f"- `{name}` ({', '.join(flags)}) {text}".rstrip(), sub

    def block(self, name: str, b: dict, path: list[str]):
        inner = b.get("block", {})
        desc, replaces = describe(inner.get("description", ""))
        nesting = b.get("nesting_mode", "single")
        kind = {"single": "Block", "group": "Block", "list": "Block List", "set": "Block Set", "map": "Block Map"}.get(
            nesting, "Block"
        )
        flags = [kind, "Required" if b.get("min_items", 0) > 0 else "Optional"]
        if b.get("max_items") and nesting not in ("single", "group"):
            flags.append(f"Max: {b['max_items']}")
        if inner.get("deprecated"):
            flags.append("Deprecated")
        if replaces:
            flags.append("Forces replacement")
        anchor = "nestedblock--" + "--".join(path + [name])
        text = desc
        if inner.get("deprecated"):
            msg = inner.get("deprecation_message") or "Deprecated."
            text = f"**Deprecated:** {msg} {text}".strip()
        text = f"{text} (see [below for nested schema](#{anchor}))".strip()
        return f"- `{name}` ({', '.join(flags)}) {text}", (anchor, ".".join(path + [name]), inner)


def schema_markdown(block: dict) -> str:
    return SchemaWriter().render(block)


# ---------------------------------------------------------------------------------------------
# Examples and import


def code_block(lang: str, path: Path) -> str:
    if not path.is_file():
        raise DocsError(f"{path.relative_to(ROOT)} is missing")
    return f"```{lang}\n{path.read_text().strip()}\n```"


def import_markdown(type_: str, import_sh: Path, identity: dict | None) -> str:
    """import.sh as is, the same import as an `import` block, and the identity form."""
    if not import_sh.is_file():
        raise DocsError(f"{import_sh.relative_to(ROOT)} is missing")
    text = import_sh.read_text().strip()
    commands = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) >= 4 and words[0] == "terraform" and words[1] == "import":
            commands.append((words[-2], words[-1]))
    if not commands:
        raise DocsError(f"{import_sh.relative_to(ROOT)} has no `terraform import ADDRESS ID` line")
    out = ["The `terraform import` command:", "", f"```shell\n{text}\n```", ""]
    address, id_ = commands[0]
    out += [
        "In Terraform v1.5.0 and later, an [`import` block](https://developer.hashicorp.com/terraform/language/import) "
        "with the same ID:",
        "",
        f"```terraform\nimport {{\n  to = {address}\n  id = {json.dumps(id_)}\n}}\n```",
    ]
    if identity:
        attrs = identity.get("attributes", {})
        required = [n for n, a in attrs.items() if a.get("required_for_import")]
        width = max((len(n) for n in required), default=0)
        lines = [f"    {n.ljust(width)} = var.{n}" for n in required]
        out += [
            "",
            "In Terraform v1.12.0 and later, by [resource identity]"
            "(https://developer.hashicorp.com/terraform/language/import#import-by-identity) instead of an ID:",
            "",
            "```terraform\nimport {\n  to = "
            + address
            + "\n  identity = {\n"
            + "\n".join(lines)
            + "\n  }\n}\n```",
            "",
            "### Identity Schema",
            "",
        ]
        for group_name, pred in (
            ("Required", lambda a: a.get("required_for_import")),
            ("Optional", lambda a: not a.get("required_for_import")),
        ):
            names = [n for n, a in attrs.items() if pred(a)]
            if names:
                out += [f"{group_name}:", ""]
                for n in sorted(names):
                    a = attrs[n]
                    out.append(f"- `{n}` ({type_name(a.get('type'))}) {a.get('description', '').strip()}".rstrip())
                out.append("")
    return "\n".join(out).rstrip()


# ---------------------------------------------------------------------------------------------
# Templates

# Only `{{ .Field ... }}`, `{{ tffile ... }}` and `{{ codefile ... }}` are placeholders; other
# double braces (Argo CD's `{{name}}`, say) are text.
PLACEHOLDER = re.compile(r"\{\{-?\s*((?:\.|tffile\b|codefile\b).*?)\s*-?\}\}", re.S)


def call_args(expr: str, page: dict) -> list[str]:
    args = []
    for w in shlex.split(expr):
        args.append(page[w[1:]] if w.startswith(".") and w[1:] in page else w)
    return args


def evaluate(expr: str, page: dict, where: str) -> str:
    parts = [p.strip() for p in expr.split("|")]
    head, pipes = parts[0], parts[1:]
    words = shlex.split(head)
    if not words:
        raise DocsError(f"{where}: empty placeholder")
    if words[0].startswith("."):
        key = words[0][1:]
        if key not in page or len(words) != 1:
            raise DocsError(f"{where}: unknown placeholder {{{{ {expr} }}}}")
        value = page[key]
        if callable(value):
            value = value()
    elif words[0] == "tffile":
        args = call_args(head, page)
        if len(args) != 2:
            raise DocsError(f'{where}: use {{{{ tffile "path" }}}}')
        value = code_block("terraform", ROOT / args[1])
    elif words[0] == "codefile":
        args = call_args(head, page)
        if len(args) != 3:
            raise DocsError(f'{where}: use {{{{ codefile "lang" "path" }}}}')
        value = code_block(args[1], ROOT / args[2])
    else:
        raise DocsError(f"{where}: unknown placeholder {{{{ {expr} }}}}")
    for p in pipes:
        w = shlex.split(p)
        if w == ["trimspace"]:
            value = value.strip()
        elif len(w) == 2 and w[0] == "prefixlines":
            value = "\n".join(w[1] + line if line else line for line in value.splitlines())
        else:
            raise DocsError(f"{where}: unknown function {p!r}")
    return value


def render(template: str, page: dict, where: str) -> str:
    out = PLACEHOLDER.sub(lambda m: evaluate(m.group(1), page, where), template)
    # One trailing newline, no runs of blank lines left by empty parts.
    out = re.sub(r"\n{3,}", "\n\n", out).strip() + "\n"
    return out


def first_sentence(text: str) -> str:
    text = " ".join(text.split())
    m = re.search(r"(?<!e\.g)(?<!i\.e)\.(\s|$)", text)
    return text[: m.start() + 1] if m else text


def types_table(schema: dict) -> str:
    rows = ["| Type | What it does |", "| --- | --- |"]
    for kind, (key, folder, *_rest) in KINDS.items():
        prefix = {"resource": "", "data-source": "data.", "ephemeral": "ephemeral.", "list-resource": "list.", "action": "action."}[kind]
        for type_, s in sorted(schema.get(key, {}).items()):
            short = type_.removeprefix(PROVIDER_NAME + "_")
            desc = first_sentence(s["block"].get("description", "")).replace("|", "\\|")
            rows.append(f"| [`{prefix}{type_}`]({folder}/{short}.md) | {desc} |")
    return "\n".join(rows)


def pages(schema: dict) -> dict[str, str]:
    """docs/ path (relative) -> content."""
    out = {}
    tmpl_root = ROOT / "templates"
    expected_templates = set()

    index_tmpl = tmpl_root / "index.md.tmpl"
    expected_templates.add(index_tmpl)
    provider_block = schema["provider"]["block"]
    page = {
        "Name": PROVIDER_NAME,
        "Type": "Provider",
        "ProviderName": PROVIDER_NAME,
        "Description": provider_block.get("description", "").strip(),
        "SchemaMarkdown": lambda: schema_markdown(provider_block),
        "Example": lambda: code_block("terraform", ROOT / "examples/provider/provider.tf"),
        "ExampleFile": "examples/provider/provider.tf",
        "Types": lambda: types_table(schema),
    }
    if not index_tmpl.is_file():
        raise DocsError("templates/index.md.tmpl is missing")
    out["index.md"] = render(index_tmpl.read_text(), page, "templates/index.md.tmpl")

    identities = schema.get("resource_identity_schemas", {})
    for kind, (key, folder, ex_folder, ex_file, label) in KINDS.items():
        for type_, s in sorted(schema.get(key, {}).items()):
            short = type_.removeprefix(PROVIDER_NAME + "_")
            tmpl = tmpl_root / folder / f"{short}.md.tmpl"
            expected_templates.add(tmpl)
            ex_dir = ROOT / "examples" / ex_folder / type_
            block = s["block"]
            page = {
                "Name": type_,
                "Type": label,
                "ProviderName": PROVIDER_NAME,
                "Description": block.get("description", "").strip(),
                "SchemaMarkdown": lambda block=block: schema_markdown(block),
                "Example": lambda p=ex_dir / ex_file: code_block("terraform", p),
                "ExampleFile": str((ex_dir / ex_file).relative_to(ROOT)),
                "ImportFile": str((ex_dir / "import.sh").relative_to(ROOT)),
            }
            if kind == "resource":
                page["Import"] = lambda t=type_, p=ex_dir / "import.sh": import_markdown(t, p, identities.get(t))
            text = tmpl.read_text() if tmpl.is_file() else DEFAULT_TEMPLATE
            out[f"{folder}/{short}.md"] = render(text, page, str(tmpl.relative_to(ROOT)))

    orphans = sorted(
        str(p.relative_to(ROOT)) for p in tmpl_root.rglob("*.tmpl") if p not in expected_templates
    ) if tmpl_root.is_dir() else []
    if orphans:
        raise DocsError("templates for types the provider does not have: " + ", ".join(orphans))
    return out


def generated_files(docs: Path) -> set[str]:
    """Files in docs/ that the generator owns (architecture.md and benchmarks.md are not)."""
    found = set()
    if (docs / "index.md").exists():
        found.add("index.md")
    for _, folder, *_ in KINDS.values():
        d = docs / folder
        if d.is_dir():
            found |= {f"{folder}/{p.name}" for p in d.iterdir() if p.is_file()}
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 with a diff when docs/ differs from what would be generated")
    ap.add_argument(
        "--provider-binary",
        type=Path,
        default=Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / BINARY_NAME,
        help="the built provider (default: %(default)s, under $CARGO_TARGET_DIR or target/)",
    )
    ap.add_argument("--terraform", type=Path, default=ROOT / ".bench/bin/terraform", help="Terraform CLI (default: %(default)s)")
    ap.add_argument("--schema-json", type=Path, help="use this `terraform providers schema -json` output instead of running Terraform")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs", help="output directory (default: %(default)s)")
    args = ap.parse_args()

    try:
        if args.schema_json:
            schema = json.loads(args.schema_json.read_text())["provider_schemas"][PROVIDER_ADDRESS]
        else:
            schema = provider_schema(args.terraform, args.provider_binary)
        wanted = pages(schema)
    except DocsError as e:
        print(f"docs.py: {e}", file=sys.stderr)
        return 2

    docs = args.docs
    present = generated_files(docs)
    if args.check:
        diff = []
        for rel in sorted(set(wanted) | present):
            old = (docs / rel).read_text() if rel in present else None
            new = wanted.get(rel)
            if old != new:
                if new is None:
                    diff.append(f"docs/{rel}: not generated by any type or template; remove it\n")
                diff.extend(
                    difflib.unified_diff(
                        (old or "").splitlines(keepends=True),
                        (new or "").splitlines(keepends=True),
                        fromfile=f"a/docs/{rel}" if rel in present else "/dev/null",
                        tofile=f"b/docs/{rel}" if rel in wanted else "/dev/null",
                    )
                )
        if diff:
            sys.stdout.write("".join(d if d.endswith("\n") else d + "\n" for d in diff))
            print(
                f"\ndocs/ is stale: it differs from what the provider's schema, templates/ and examples/ generate."
                f"\nRegenerate with: {REGENERATE}",
            )
            return 1
        print(f"docs/ is up to date ({len(wanted)} pages).")
        return 0

    for rel, text in wanted.items():
        path = docs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote docs/{rel}")
    for rel in sorted(present - set(wanted)):
        (docs / rel).unlink()
        print(f"removed docs/{rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
