"""Read manifests (YAML streams, JSON, ``kind: List``) into typed, validated objects.

A manifest written for cert-manager must load unchanged, and a bad one must be refused
the way ``kubectl apply`` refuses it: with the file, the document, the object and the
field path in the message. One bad document never hides the others, and kinds certkeeper
does not manage (Ingress, webhook configurations, ...) are listed separately instead of
failing the whole file, since cert-manager examples routinely bundle them.
"""

from __future__ import annotations

import datetime as _dt
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .meta import Resource, format_time
from .registry import KINDS, by_api_version_kind
from .validation import validate
from .validation.schema import field_errors_from_pydantic
from .yamlstream import DocumentError, parse_json, parse_yaml_stream

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_NAMESPACE = "default"


@dataclass
class LoadResult:
    objects: list[Resource] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def extend(self, other: LoadResult) -> None:
        self.objects.extend(other.objects)
        self.errors.extend(other.errors)
        self.unsupported.extend(other.unsupported)


def identity(kind: str, name: str | None, namespace: str | None) -> str:
    """``Certificate "default/foo"``: how messages name an object."""
    n = name or "<unnamed>"
    return f'{kind} "{namespace}/{n}"' if namespace else f'{kind} "{n}"'


def _normalise(value: Any) -> Any:
    """What Kubernetes' YAML-to-JSON step does: timestamps become strings, keys strings."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        return format_time(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def _parse_stream(text: str) -> tuple[list[Any], str | None]:
    """All documents of the text (None for empty ones, DocumentError for refused ones)
    and a parse error, if any."""
    if text.lstrip().startswith(("{", "[")):
        docs = parse_json(text)
        if docs is not None:
            return docs, None
    return parse_yaml_stream(text)


def load_documents(
    text: str, source: str = "-", default_namespace: str | None = DEFAULT_NAMESPACE
) -> LoadResult:
    """Parse and validate every document of ``text``.

    ``default_namespace`` is given to namespaced objects that name none (kubectl fills in
    the context's namespace the same way); None leaves them without one.
    """
    result = LoadResult()
    docs, parse_error = _parse_stream(text)
    for i, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        if isinstance(doc, DocumentError):
            result.errors.append(f"{source} (document {i}): {doc.message}")
            continue
        _load_one(_normalise(doc), f"{source} (document {i})", default_namespace, result)
    if parse_error is not None:
        result.errors.append(f"{source} (document {len(docs) + 1}): {parse_error}")
    return result


def _load_one(doc: Any, where: str, default_namespace: str | None, result: LoadResult) -> None:
    if not isinstance(doc, dict):
        result.errors.append(f"{where}: expected an object (a mapping), got {type(doc).__name__}")
        return
    api_version = doc.get("apiVersion")
    kind = doc.get("kind")
    if kind == "List" and isinstance(doc.get("items"), list):
        for j, item in enumerate(doc["items"]):
            _load_one(item, f"{where} items[{j}]", default_namespace, result)
        return
    missing = [f"{k} not set" for k, v in (("apiVersion", api_version), ("kind", kind)) if not v]
    if missing:
        result.errors.append(f"{where}: error validating data: [{', '.join(missing)}]")
        return
    if not isinstance(api_version, str) or not isinstance(kind, str):
        result.errors.append(f"{where}: apiVersion and kind must be strings")
        return
    raw_meta = doc.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    name = meta.get("name") if isinstance(meta.get("name"), str) else None
    namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else None

    cls = by_api_version_kind(api_version, kind)
    if cls is None:
        if any(kind == c.KIND for c in KINDS) or api_version.split("/")[0].endswith("cert-manager.io"):
            result.errors.append(f'{where}: no matches for kind "{kind}" in version "{api_version}"')
        else:
            result.unsupported.append(
                f"{where}: {identity(kind, name, namespace)}: kind {api_version} is not managed by certkeeper (skipped)"
            )
        return

    namespace = (namespace or default_namespace) if cls.NAMESPACED else None
    prefix = f"{where}: {identity(kind, name, namespace)} is invalid: "
    try:
        # ``spec: null`` (common in templated output) means "not given", as for the API server
        body = {k: v for k, v in doc.items() if v is not None}
        obj = cls.model_validate(body, strict=True, by_alias=True, by_name=False)
    except ValidationError as e:
        result.errors.extend(prefix + str(fe) for fe in field_errors_from_pydantic(e))
        return
    obj.metadata.namespace = namespace
    errs = validate(obj)
    if errs:
        result.errors.extend(prefix + str(fe) for fe in errs)
        return
    result.objects.append(obj)


def _manifest_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in MANIFEST_SUFFIXES)


def load_paths(paths: list[str], default_namespace: str | None = DEFAULT_NAMESPACE) -> LoadResult:
    """Files, directories (their *.yaml, *.yml, *.json, sorted, not recursive) or ``-``."""
    result = LoadResult()
    for p in paths:
        if p == "-":
            result.extend(load_documents(sys.stdin.read(), "-", default_namespace))
            continue
        path = Path(p)
        if path.is_dir():
            files = _manifest_files(path)
        elif path.exists():
            files = [path]
        else:
            result.errors.append(f'{p}: the path "{p}" does not exist')
            continue
        for f in files:
            try:
                text = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                result.errors.append(f"{f}: cannot read: {e}")
                continue
            result.extend(load_documents(text, str(f), default_namespace))
    return result
