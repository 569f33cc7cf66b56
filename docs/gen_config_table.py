"""Generate the key tables of docs/configuration.md from ``mctrack config --defaults``.

Usage (from the repository root)::

    mctrack config --defaults | python docs/gen_config_table.py --update docs/configuration.md

Without ``--update`` the tables are printed. The input is the commented YAML that ``mctrack config --defaults``
prints (the same text as ``config/default.yaml``): a ``# help`` comment above every section and key, the allowed
values at the end of the help as ``[lo <= x <= hi]`` or ``(a | b)``.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

BEGIN = "<!-- BEGIN generated key tables: docs/gen_config_table.py -->"
END = "<!-- END generated key tables -->"

_SECTION = re.compile(r"^([a-z_]+):\s*(.*)$")
_KEY = re.compile(r"^  ([a-z_0-9]+):\s*(.*)$")
_ALLOWED = re.compile(r"\s*(\[[^\[\]]*\]|\([^()]*\|[^()]*\))\s*$")


@dataclass
class Key:
    name: str
    default: str
    allowed: str
    help: str


@dataclass
class Section:
    name: str
    help: str
    keys: list[Key] = field(default_factory=list)


def parse_defaults(text: str) -> list[Section]:
    """Sections and keys, in file order, from the commented default YAML."""
    sections: list[Section] = []
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            comment = []
            continue
        if stripped.startswith("#"):
            if line.startswith("#   ") and sections and sections[-1].name == "cameras":
                continue  # the commented example of a camera entry
            comment.append(stripped.lstrip("#").strip())
            continue
        help_text = " ".join(comment)
        comment = []
        if m := _SECTION.match(line):
            sections.append(Section(m.group(1), help_text))
            if m.group(2):  # a list section such as ``cameras: []``
                sections[-1].keys.append(Key("", m.group(2), "", ""))
        elif (m := _KEY.match(line)) and sections:
            allowed = ""
            if a := _ALLOWED.search(help_text):
                allowed = a.group(1)[1:-1].strip()
                help_text = help_text[: a.start()].rstrip()
            sections[-1].keys.append(Key(m.group(1), m.group(2), allowed, help_text))
    return sections


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(sections: list[Section]) -> str:
    """One markdown table per section."""
    out: list[str] = []
    for sec in sections:
        keys = [k for k in sec.keys if k.name]
        out.append(f"### `{sec.name}`\n")
        out.append(f"{sec.help}\n")
        if not keys:
            out.append(f"Default: `{sec.name}: {sec.keys[0].default if sec.keys else ''}`.\n")
            continue
        out.append("| key | default | allowed | meaning |")
        out.append("|---|---|---|---|")
        for k in keys:
            default = f"`{_cell(k.default)}`" if k.default else ""
            out.append(f"| `{sec.name}.{k.name}` | {default} | {_cell(k.allowed)} | {_cell(k.help)} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", metavar="MD", help="replace the generated part of this markdown file")
    args = parser.parse_args(argv)
    tables = render(parse_defaults(sys.stdin.read()))
    if not args.update:
        sys.stdout.write(tables)
        return 0
    path = Path(args.update)
    doc = path.read_text(encoding="utf-8")
    if BEGIN not in doc or END not in doc:
        print(f"{path}: markers {BEGIN!r} and {END!r} not found", file=sys.stderr)
        return 2
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n\n{tables}\n{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
