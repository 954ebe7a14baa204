"""Generate the CLI reference (``docs/CLI.md``) from the Typer application itself.

The reference is data derived from the code, so it cannot drift: a test compares the committed
file with a fresh rendering. Regenerate with ``python -m mirrorguard.interfaces.cli.reference``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from mirrorguard.interfaces.cli.app import app


def _params(cmd: Any) -> list[str]:
    lines = []
    for p in cmd.params:
        kind = getattr(p, "param_type_name", "")
        if kind == "argument":
            req = ", required" if p.required else ""
            lines.append(f"- `{str(p.name).upper()}` (argument{req})")
        elif kind == "option" and not getattr(p, "hidden", False):
            flags = ", ".join(f"`{o}`" for o in p.opts)
            help_text = (getattr(p, "help", None) or "").strip()
            lines.append(f"- {flags}: {help_text}" if help_text else f"- {flags}")
    return lines


def _walk(cmd: Any, path: list[str], out: list[str]) -> None:
    # Typer ships its own copy of click, so commands are recognised by shape, not by class.
    sub = getattr(cmd, "commands", None)
    if isinstance(sub, dict):
        for name in sorted(sub):
            _walk(sub[name], [*path, name], out)
        return
    out.append(f"## `mirrorguard {' '.join(path)}`\n")
    doc = (cmd.help or "").strip()
    if doc:
        out.append(doc + "\n")
    params = _params(cmd)
    if params:
        out.extend([*params, ""])


def render() -> str:
    """The whole reference as Markdown."""
    root = typer.main.get_command(app)
    out = ["# mirrorguard command reference\n",
           "Generated from the code by `python -m mirrorguard.interfaces.cli.reference`; "
           "exit codes are listed in the README.\n"]
    _walk(root, [], out)
    return "\n".join(out).rstrip() + "\n"


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/CLI.md")
    target.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
