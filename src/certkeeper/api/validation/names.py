"""Kubernetes name, label and annotation rules (apimachinery/pkg/util/validation).

Every object goes through these before its kind-specific checklist, because an object
stored under a name the API server would refuse could not be moved to a cluster later.
The messages are Kubernetes' own, so they can be searched for.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .errors import FieldError, child, invalid, required, too_long

if TYPE_CHECKING:  # label syntax is also checked by ``get -l``, which builds no model
    from ..meta import ObjectMeta

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_LABEL_RE = re.compile(f"^{_DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")

_QNAME_CHAR_FMT = "[A-Za-z0-9]"
_QNAME_EXT_CHAR_FMT = "[-A-Za-z0-9_.]"
_QUALIFIED_NAME_FMT = f"({_QNAME_CHAR_FMT}{_QNAME_EXT_CHAR_FMT}*)?{_QNAME_CHAR_FMT}"
_QUALIFIED_NAME_RE = re.compile(f"^{_QUALIFIED_NAME_FMT}$")
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    f"regex used for validation is '{_DNS1123_LABEL_FMT}')"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    f"regex used for validation is '{_DNS1123_SUBDOMAIN_FMT}')"
)
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    f"validation is '{_QUALIFIED_NAME_FMT}')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    f"'my_value',  or '12345', regex used for validation is '{_LABEL_VALUE_FMT}')"
)


def _max_len_msg(n: int) -> str:
    return f"must be no more than {n} characters"


def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(_max_len_msg(DNS1123_LABEL_MAX))
    if not _DNS1123_LABEL_RE.match(value):
        errs.append(_DNS1123_LABEL_MSG)
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(_max_len_msg(DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errs.append(_DNS1123_SUBDOMAIN_MSG)
    return errs


def is_qualified_name(value: str) -> list[str]:
    """``IsQualifiedName``: ``[prefix/]name`` as used by label and annotation keys."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + _QUALIFIED_NAME_MSG
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + _max_len_msg(QUALIFIED_NAME_MAX))
    if name and not _QUALIFIED_NAME_RE.match(name):
        errs.append("name part " + _QUALIFIED_NAME_MSG)
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs = []
    if len(value) > LABEL_VALUE_MAX:
        errs.append(_max_len_msg(LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.match(value):
        errs.append(_LABEL_VALUE_MSG)
    return errs


def validate_labels(labels: dict[str, str] | None, path: str) -> list[FieldError]:
    """``ValidateLabels``: errors carry the map's path, the bad key or value as value."""
    el: list[FieldError] = []
    for k, v in (labels or {}).items():
        el.extend(invalid(path, k, m) for m in is_qualified_name(k))
        el.extend(invalid(path, v, m) for m in is_valid_label_value(v))
    return el


def validate_annotations(annotations: dict[str, str] | None, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    total = 0
    for k, v in (annotations or {}).items():
        el.extend(invalid(path, k, m) for m in is_qualified_name(k.lower()))
        total += len(k) + len(v)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        el.append(too_long(path, "", TOTAL_ANNOTATION_SIZE_LIMIT))
    return el


def validate_object_meta(
    meta: ObjectMeta, namespaced: bool, path: str = "metadata", name_is_label: bool = False
) -> list[FieldError]:
    """The parts of ``ValidateObjectMeta`` that apply to an object being created.

    Names are DNS-1123 subdomains, except where the kind asks for a label (Namespace).
    """
    name_rule = is_dns1123_label if name_is_label else is_dns1123_subdomain
    el: list[FieldError] = []
    if meta.generate_name:
        el.extend(
            invalid(child(path, "generateName"), meta.generate_name, m)
            for m in name_rule(_mask_trailing_dash(meta.generate_name))
        )
    if not meta.name:
        if not meta.generate_name:
            el.append(required(child(path, "name"), "name or generateName is required"))
    else:
        el.extend(invalid(child(path, "name"), meta.name, m) for m in name_rule(meta.name))
    if namespaced and meta.namespace:
        el.extend(
            invalid(child(path, "namespace"), meta.namespace, m) for m in is_dns1123_label(meta.namespace)
        )
    el.extend(validate_labels(meta.labels, child(path, "labels")))
    el.extend(validate_annotations(meta.annotations, child(path, "annotations")))
    return el


def _mask_trailing_dash(name: str) -> str:
    """generateName may end in ``-``: the random suffix makes the final name valid."""
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name
