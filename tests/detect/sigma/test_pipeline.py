"""Field-mapping pipelines: YAML loading, validation, logsource resolution, event filters."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from mirrorguard.detect.sigma.pipeline import (
    Pipeline,
    builtin_pipeline_paths,
    default_pipelines,
)
from mirrorguard.errors import ConfigError


def test_builtin_pipelines_load_and_cover_the_spec_sources() -> None:
    names = {p.stem for p in builtin_pipeline_paths()}
    assert {"windows", "linux", "web", "dns", "proxy", "network", "generic"} <= names
    pipes = default_pipelines()
    for ls in [{"product": "windows", "category": "process_creation"},
               {"product": "windows", "service": "security"},
               {"product": "linux", "service": "auditd"},
               {"category": "webserver"}, {"category": "proxy"}, {"category": "dns"},
               {"product": "zeek", "service": "dns"}]:
        assert pipes.resolve(ls) is not None, ls


def test_windows_process_creation_coalesces_sysmon_and_security_names() -> None:
    m = default_pipelines().resolve({"product": "windows", "category": "process_creation"})
    assert m is not None
    assert m.columns_for("Image") == ("winlog.event_data.Image",
                                      "winlog.event_data.NewProcessName")
    assert m.columns_for("EventID") == ("winlog.event_id",)
    assert m.columns_for("AnyEventDataName") == ("winlog.event_data.AnyEventDataName",)
    df = pl.DataFrame({"winlog.channel": ["Security", "Security", "Microsoft-Windows-Sysmon/"
                                          "Operational", "System"],
                       "winlog.event_id": [4688, 4624, 1, 4688]})
    assert df.select(m.filter_expr(df.columns)).to_series().to_list() == [
        True, False, True, False]
    assert "IN (4688)" in m.filter_sql({"winlog.channel": "a", "winlog.event_id": "b"})


def test_unmapped_field_without_passthrough_is_none() -> None:
    m = default_pipelines().resolve({"product": "linux", "category": "process_creation"})
    assert m is not None
    assert m.columns_for("CommandLine") == ("process.command_line",)
    assert m.columns_for("NoSuchField") is None


def test_generic_entry_fills_product_and_service() -> None:
    m = default_pipelines().resolve({"product": "cisco", "service": "aaa"})
    assert m is not None
    assert m.columns_for("cmd") == ("cisco.cmd",)
    df = pl.DataFrame({"event.dataset": ["cisco.aaa", "cisco.other"]})
    assert df.select(m.filter_expr(df.columns)).to_series().to_list() == [True, False]


def test_most_specific_entry_wins_and_unknown_logsource_is_none() -> None:
    p = Pipeline.from_dict({"name": "t", "logsources": [
        {"product": "x", "conditions": [{"a": 1}]},
        {"product": "x", "category": "c", "conditions": [{"a": 2}]}]})
    hit = p.resolve({"product": "x", "category": "c"})
    assert hit is not None and hit.id == "x/c"
    assert p.resolve({"product": "x", "category": "other"}) is None
    assert p.resolve({"product": "y"}) is None


@pytest.mark.parametrize("doc", [
    {"name": "t", "bogus": 1},
    {"name": "t", "logsources": [{"product": "x", "fields": {"A": 3}}]},
    {"name": "t", "logsources": [{"conditions": [{"a": 1}]}]},
    {"name": "t", "logsources": [{"product": "x", "typo": 1}]},
])
def test_invalid_pipelines_are_config_errors(doc: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Pipeline.from_dict(doc)


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("name: t\nlogsources:\n  - {product: x\n")
    with pytest.raises(ConfigError) as err:
        Pipeline.from_yaml(f)
    assert err.value.file == str(f) and err.value.line is not None


def test_missing_condition_column_never_matches() -> None:
    p = Pipeline.from_dict({"name": "t", "logsources": [
        {"product": "x", "conditions": [{"nope": "v"}]}]})
    m = p.resolve({"product": "x"})
    assert m is not None
    df = pl.DataFrame({"a": [1, 2]})
    assert df.select(m.filter_expr(df.columns)).to_series().to_list() == [False, False]
