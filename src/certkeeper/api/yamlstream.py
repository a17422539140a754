"""Parse a manifest stream with the limits the API server and kubectl's YAML decoder keep.

PyYAML shares an anchored node between its aliases, so a few hundred bytes of nested
aliases describe billions of nodes; nothing breaks until the data is walked, copied or
validated, and then it takes minutes and gigabytes. Each document is therefore composed
into its node graph first and checked there, before a single object is built:

* aliasing: the go-yaml rule Kubernetes uses ("document contains excessive aliasing"):
  past 100 alias expansions and 1,000 nodes, expansions may make up at most 99 % of a
  small document, sliding to 10 % of a large one;
* size: a document may not be larger than the API server's request limit (3 MiB);
* duplicate keys in a mapping are refused (the API server's strict decoding refuses them:
  a second ``dnsNames`` silently replacing the first is never what the author meant).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

#: the API server refuses larger request bodies ("Request entity too large: limit is 3145728")
MAX_DOCUMENT_BYTES = 3 * 1024 * 1024

# go-yaml's decoder (decode.go): the share of decode operations allowed to come from aliases
_ALIAS_RATIO_RANGE_LOW = 400_000
_ALIAS_RATIO_RANGE_HIGH = 4_000_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class DocumentError:
    """A document refused before it was built; the stream goes on after it."""

    message: str


class _Refused(Exception):
    pass


def _allowed_alias_ratio(decode_count: int) -> float:
    if decode_count <= _ALIAS_RATIO_RANGE_LOW:
        return 0.99
    if decode_count >= _ALIAS_RATIO_RANGE_HIGH:
        return 0.10
    span = _ALIAS_RATIO_RANGE_HIGH - _ALIAS_RATIO_RANGE_LOW
    return 0.99 - 0.89 * (decode_count - _ALIAS_RATIO_RANGE_LOW) / span


def _at(node: Node) -> str:
    return f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}"


def _expanded(node: Node, memo: dict[int, int], active: set[int]) -> int:
    """Nodes ``node`` stands for once every alias is expanded (memoised per shared node)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise _Refused(f"invalid YAML at {_at(node)}: an anchor's value contains an alias of itself")
    active.add(key)
    total = 1
    if isinstance(node, SequenceNode):
        total += sum(_expanded(child, memo, active) for child in node.value)
    elif isinstance(node, MappingNode):
        total += sum(_expanded(k, memo, active) + _expanded(v, memo, active) for k, v in node.value)
    active.discard(key)
    memo[key] = total
    return total


def _check_aliasing(root: Node) -> None:
    memo: dict[int, int] = {}
    decode_count = _expanded(root, memo, set())
    alias_count = decode_count - len(memo)  # nodes that exist only through an alias
    if (
        alias_count > 100
        and decode_count > 1000
        and alias_count / decode_count > _allowed_alias_ratio(decode_count)
    ):
        raise _Refused(
            f"document contains excessive aliasing: {len(memo)} nodes written expand to "
            f"{decode_count} (refused before anything is built)"
        )


def _path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _check_duplicate_keys(node: Node, path: str, seen_nodes: set[int]) -> None:
    if id(node) in seen_nodes:
        return  # an aliased node was checked where its anchor is
    seen_nodes.add(id(node))
    if isinstance(node, SequenceNode):
        for i, child in enumerate(node.value):
            _check_duplicate_keys(child, f"{path}[{i}]", seen_nodes)
    elif isinstance(node, MappingNode):
        first: dict[str, Node] = {}
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.tag != _MERGE_TAG:
                if k.value in first:
                    raise _Refused(
                        f"invalid YAML at {_at(k)}: {_path(path, k.value)}: key {json.dumps(k.value)} already "
                        f"set in map (first at line {first[k.value].start_mark.line + 1})"
                    )
                first[k.value] = k
                _check_duplicate_keys(v, _path(path, k.value), seen_nodes)
            else:
                _check_duplicate_keys(v, path, seen_nodes)


def _check(node: Node, text: str) -> None:
    size = node.end_mark.index - node.start_mark.index  # characters: at most the bytes
    if size * 4 > MAX_DOCUMENT_BYTES:  # a UTF-8 character is at most 4 bytes
        size = len(text[node.start_mark.index : node.end_mark.index].encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise _Refused(f"document is {size} bytes, larger than the limit of {MAX_DOCUMENT_BYTES} bytes")
    _check_aliasing(node)
    _check_duplicate_keys(node, "", set())


def yaml_error(e: yaml.YAMLError) -> str:
    """``invalid YAML at line 8, column 12: mapping values are not allowed here``."""
    if isinstance(e, yaml.MarkedYAMLError) and e.problem_mark is not None:
        mark = e.problem_mark
        problem = e.problem or e.context or "syntax error"
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"invalid YAML: {' '.join(str(e).split())}"


def parse_yaml_stream(text: str) -> tuple[list[Any], str | None]:
    """Every document (None for empty ones, a DocumentError for a refused one) and the
    syntax error that ended the stream, if any."""
    loader = yaml.SafeLoader(text)
    docs: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                docs.append(None)
                continue
            try:
                _check(node, text)
            except _Refused as refused:
                docs.append(DocumentError(str(refused)))
                continue
            docs.append(loader.construct_document(node))
    except yaml.YAMLError as e:
        return docs, yaml_error(e)
    except RecursionError:
        return docs, "invalid YAML: the document is nested too deeply"
    finally:
        loader.dispose()
    return docs, None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate field {json.dumps(k)}")
        out[k] = v
    return out


def parse_json(text: str) -> list[Any] | None:
    """The documents of a JSON text (an array holds several), or None if it is not JSON.

    A duplicate field or an oversized item becomes a DocumentError like YAML's.
    """
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError:
        return None  # may still be YAML flow style
    except ValueError as e:  # from _no_duplicates
        return [DocumentError(f"invalid JSON: {e}")]
    except RecursionError:
        return [DocumentError("invalid JSON: the document is nested too deeply")]
    items = data if isinstance(data, list) else [data]
    out: list[Any] = []
    for item in items:
        size = len(json.dumps(item, separators=(",", ":")))
        if size > MAX_DOCUMENT_BYTES:
            out.append(DocumentError(f"document is {size} bytes, larger than the limit of {MAX_DOCUMENT_BYTES} bytes"))
        else:
            out.append(item)
    return out
