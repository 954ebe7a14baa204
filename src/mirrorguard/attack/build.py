"""Generate the compact ATT&CK table from a MITRE ATT&CK STIX bundle.

The input is an ATT&CK STIX bundle (the STIX 2.0 flavour of ``mitre/cti`` or the STIX 2.1
flavour of ``mitre-attack/attack-stix-data``; ``.json`` or ``.json.gz``). The output is a small
JSON document (written gzip-compressed, deterministic bytes) with:

* ``tactics`` — in kill-chain order, taken from the ``x-mitre-matrix`` object's ``tactic_refs``
  (each ``x-mitre-tactic`` gives id ``TA00xx``, ``x_mitre_shortname`` and name);
* ``techniques`` — every ``attack-pattern`` with a ``mitre-attack`` external id: name, tactic
  short names (``kill_chain_phases``), platforms, sub-technique flag, deprecated/revoked flags and,
  for revoked ones, the technique that replaced it (``revoked-by`` relationships);
* ``meta`` — source file, its sha256, the latest ``modified`` time, object counts, and MITRE's
  attribution (copyright designation and licence, as MITRE's terms of use require).

>>> bundle = {"type": "bundle", "objects": [
...   {"type": "x-mitre-tactic", "id": "x-mitre-tactic--1", "name": "Execution",
...    "x_mitre_shortname": "execution",
...    "external_references": [{"source_name": "mitre-attack", "external_id": "TA0002"}]},
...   {"type": "x-mitre-matrix", "id": "x-mitre-matrix--1", "name": "Enterprise ATT&CK",
...    "tactic_refs": ["x-mitre-tactic--1"]},
...   {"type": "attack-pattern", "id": "attack-pattern--1", "name": "PowerShell",
...    "x_mitre_is_subtechnique": True, "x_mitre_platforms": ["Windows"],
...    "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "execution"}],
...    "external_references": [{"source_name": "mitre-attack", "external_id": "T1059.001"}]}]}
>>> table = build_table(bundle, source_name="example.json")
>>> table["techniques"]["T1059.001"]["tactics"], table["tactics"][0]["id"]
(['execution'], 'TA0002')
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from mirrorguard.errors import FormatError

TABLE_FORMAT = "mirrorguard-attack-table"
TABLE_FORMAT_VERSION = 1
KILL_CHAIN = "mitre-attack"

COPYRIGHT = (
    "© {year} The MITRE Corporation. This work is reproduced and distributed with the permission "
    "of The MITRE Corporation."
)
LICENSE_SUMMARY = (
    "MITRE grants a non-exclusive, royalty-free license to use ATT&CK® for research, "
    "development, and commercial purposes. Any copy you make for such purposes is authorized "
    "provided that you reproduce MITRE's copyright designation and this license in any such copy. "
    "Full terms: https://attack.mitre.org/resources/legal-and-branding/terms-of-use/"
)


def read_bundle(path: Path) -> tuple[dict[str, Any], str]:
    """A STIX bundle from ``.json`` or ``.json.gz`` and the sha256 of its (uncompressed) JSON."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        bundle = json.loads(raw)
    except (OSError, EOFError, gzip.BadGzipFile, json.JSONDecodeError) as exc:
        raise FormatError(f"cannot read STIX bundle: {exc}", file=str(path)) from exc
    if not isinstance(bundle, dict) or not isinstance(bundle.get("objects"), list):
        raise FormatError("not a STIX bundle (no 'objects' list)", file=str(path))
    return bundle, hashlib.sha256(raw).hexdigest()


def _external_id(obj: dict[str, Any]) -> str | None:
    for ref in obj.get("external_references") or ():
        if isinstance(ref, dict) and ref.get("source_name") == KILL_CHAIN and ref.get(
            "external_id"
        ):
            return str(ref["external_id"])
    return None


def _tactics(objs: list[dict[str, Any]], source: str) -> list[dict[str, str]]:
    by_id = {o["id"]: o for o in objs if o.get("type") == "x-mitre-tactic" and "id" in o}
    matrices = [o for o in objs if o.get("type") == "x-mitre-matrix"]
    if not matrices:
        raise FormatError("bundle has no x-mitre-matrix object (not an ATT&CK bundle?)",
                          file=source)
    if len(matrices) > 1:
        raise FormatError(f"bundle has {len(matrices)} matrices; expected one domain",
                          file=source)
    out = []
    for ref in matrices[0].get("tactic_refs", []):
        tac = by_id.get(ref)
        if tac is None:
            raise FormatError(f"matrix refers to missing tactic {ref}", file=source, record=ref)
        out.append({"id": _external_id(tac) or "", "shortname": str(tac["x_mitre_shortname"]),
                    "name": str(tac["name"])})
    return out


def _revoked_by(objs: list[dict[str, Any]], ext_of: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for o in objs:
        if o.get("type") == "relationship" and o.get("relationship_type") == "revoked-by":
            src, dst = ext_of.get(o.get("source_ref", "")), ext_of.get(o.get("target_ref", ""))
            if src and dst:
                out[src] = dst
    return out


def _technique(obj: dict[str, Any], order: dict[str, int]) -> dict[str, Any]:
    phases = {p["phase_name"] for p in obj.get("kill_chain_phases") or ()
              if isinstance(p, dict) and p.get("kill_chain_name") == KILL_CHAIN}
    return {
        "name": str(obj.get("name", "")),
        "tactics": sorted(phases, key=lambda t: (order.get(t, len(order)), t)),
        "platforms": sorted(str(p) for p in obj.get("x_mitre_platforms") or ()),
        "subtechnique": bool(obj.get("x_mitre_is_subtechnique", False)),
        "deprecated": bool(obj.get("x_mitre_deprecated", False)),
        "revoked": bool(obj.get("revoked", False)),
    }


def build_table(
    bundle: dict[str, Any], *, source_name: str, source_sha256: str = "",
    attack_version: str | None = None,
) -> dict[str, Any]:
    """The compact table (a JSON-able dict) from a parsed ATT&CK STIX bundle."""
    objs = [o for o in bundle.get("objects", []) if isinstance(o, dict)]
    tactics = _tactics(objs, source_name)
    order = {t["shortname"]: i for i, t in enumerate(tactics)}
    ext_of = {o["id"]: e for o in objs if o.get("type") == "attack-pattern"
              and (e := _external_id(o)) is not None}
    replaced = _revoked_by(objs, ext_of)
    techniques: dict[str, dict[str, Any]] = {}
    for o in objs:
        tid = ext_of.get(o.get("id", "")) if o.get("type") == "attack-pattern" else None
        if tid is None:
            continue
        rec = _technique(o, order)
        if rec["revoked"] and tid in replaced:
            rec["revoked_by"] = replaced[tid]
        techniques[tid] = rec
    if not techniques:
        raise FormatError("bundle has no ATT&CK techniques", file=source_name)
    collection = next((o for o in objs if o.get("type") == "x-mitre-collection"), {})
    marking = next((o.get("definition", {}).get("statement") for o in objs
                    if o.get("type") == "marking-definition"), None)
    latest = max((str(o.get("modified", "")) for o in objs), default="")
    copyright_line = COPYRIGHT.format(year=latest[:4] or "").replace("©  ", "© ")
    return {
        "format": TABLE_FORMAT,
        "format_version": TABLE_FORMAT_VERSION,
        "meta": {
            "domain": "enterprise-attack",
            "attack_version": attack_version or collection.get("x_mitre_version"),
            "source_file": source_name,
            "source_sha256": source_sha256,
            "latest_modified": latest,
            "counts": dict(sorted(Counter(str(o.get("type")) for o in objs).items())),
            "attribution": {"copyright": copyright_line, "license": LICENSE_SUMMARY,
                            "marking": marking, "url": "https://attack.mitre.org"},
        },
        "tactics": tactics,
        "techniques": dict(sorted(techniques.items())),
    }


def table_bytes(table: dict[str, Any]) -> bytes:
    """Deterministic gzip bytes of a table (sorted keys, compact JSON, mtime 0)."""
    text = json.dumps(table, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    return buf.getvalue()


def refresh_table(
    bundle_path: Path, out: Path, *, attack_version: str | None = None
) -> dict[str, Any]:
    """Regenerate the table from ``bundle_path`` and write it atomically to ``out``."""
    bundle, digest = read_bundle(bundle_path)
    table = build_table(bundle, source_name=bundle_path.name, source_sha256=digest,
                        attack_version=attack_version)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(table_bytes(table))
    tmp.replace(out)
    return table
