from pathlib import Path

from mirrorguard.interfaces.cli.reference import render

DOC = Path(__file__).resolve().parents[3] / "docs" / "CLI.md"


def test_cli_reference_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/CLI.md is stale: run python -m mirrorguard.interfaces.cli.reference")


def test_every_command_is_documented():
    text = render()
    for cmd in ("ingest", "query", "stats", "export", "demo", "bench", "guard scan",
                "models promote"):
        assert f"## `mirrorguard {cmd}`" in text
