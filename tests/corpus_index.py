"""The cert-manager documentation corpus (tests/corpus) and its INDEX.md verdicts, shared by
the tests that check certkeeper's loader, the generated CRDs and the API server against it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import yaml

# a copy kept in the repository (Apache-2.0, see its LICENSE-NOTE.md), so that CI checks it too
CORPUS = Path(__file__).resolve().parent / "corpus" / "cert-manager-docs"

_ROW = re.compile(r"^\|\s*`([^`]+\.yaml)`\s*\|(.*)\|\s*$")


def index() -> list[tuple[str, str, str]]:
    """(file, validity, notes) for every top-folder example listed in INDEX.md."""
    rows = []
    for line in (CORPUS / "INDEX.md").read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if not m or m.group(1).startswith("fragments/"):
            continue
        cells = [c.strip() for c in m.group(2).split("|")]
        # source | kinds | issuer type | valid | notes
        rows.append((m.group(1), cells[3], cells[4] if len(cells) > 4 else ""))
    return rows


INDEX = index()
#: files whose documents are admitted unchanged (OUTPUT: captured objects with a valid spec)
VALID = [f for f, v, _ in INDEX if v in ("VALID", "OUTPUT")]
#: file -> the index's note on why it is refused
INVALID = {f: notes for f, v, notes in INDEX if v.startswith("INVALID")}


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def as_json(value: Any) -> Any:
    """What kubectl sends for a YAML document: timestamps as RFC 3339 strings."""
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
