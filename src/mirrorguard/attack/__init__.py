"""MITRE ATT&CK, offline: technique/tactic names, kill-chain order and platforms.

Usage (the shipped Enterprise table; no network)::

    from mirrorguard import attack
    attack.lookup("T1059.001")            # Technique(id, name, tactics, platforms, ...)
    attack.tactic_order("credential-access")  # 7 (0 = reconnaissance, -1 = unknown)
    attack.techniques_from_tags(["attack.t1059.001", "attack.execution"])
    attack.tactics_from_tags(["attack.execution"])  # (Tactic(...),) in kill-chain order

``mirrorguard attack refresh BUNDLE`` regenerates the table from a newer ATT&CK STIX bundle.
MITRE ATT&CK® © The MITRE Corporation; reproduced and distributed with the permission of The
MITRE Corporation (terms in ``default_table().meta["attribution"]``).
"""

from mirrorguard.attack.build import build_table, read_bundle, refresh_table
from mirrorguard.attack.table import (
    AttackTable,
    Tactic,
    TagMapping,
    Technique,
    default_table,
    lookup,
    tactic,
    tactic_order,
    tactics_from_tags,
    techniques_from_tags,
)

__all__ = [
    "AttackTable",
    "Tactic",
    "TagMapping",
    "Technique",
    "build_table",
    "default_table",
    "lookup",
    "read_bundle",
    "refresh_table",
    "tactic",
    "tactic_order",
    "tactics_from_tags",
    "techniques_from_tags",
]
