"""Deterministic names for Orders and Challenges (cert-manager's ``ComputeName``).

The name depends on the parent's name and on the child's spec, so a request that is
processed again finds the Order it created instead of creating a second one, while a
changed spec gets a new name.
"""

from __future__ import annotations

import json
import re
from typing import Any

FNV32_OFFSET = 0x811C9DC5
FNV32_PRIME = 0x01000193
PREFIX_MAX = 52


def fnv1_32(data: bytes) -> int:
    """32-bit FNV-1 (multiply, then xor), Go's ``hash/fnv.New32``."""
    h = FNV32_OFFSET
    for byte in data:
        h = (h * FNV32_PRIME) & 0xFFFFFFFF
        h ^= byte
    return h


def dns_safe_prefix(name: str) -> str:
    """At most 52 characters, not ending in anything but a letter or digit."""
    return re.sub(r"[^a-z0-9]+$", "", name[:PREFIX_MAX])


def compute_name(prefix: str, spec: dict[str, Any]) -> str:
    """``<first 52 DNS-safe chars of prefix>-<FNV-1 of the JSON spec>``; a prefix that had
    to be shortened is hashed in too, so two long names sharing 52 characters differ."""
    data = json.dumps(spec, separators=(",", ":")).encode()
    if len(prefix) >= PREFIX_MAX:
        data = prefix.encode() + data
    return f"{dns_safe_prefix(prefix)}-{fnv1_32(data)}"
