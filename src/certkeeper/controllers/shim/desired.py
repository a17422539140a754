"""The Certificates an annotated Ingress or Gateway asks for (certificate-shim/sync.go).

Pure functions of the object and the shim's settings, so that what a given manifest
produces can be read and tested without a store.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from typing import Any

from ...api.certificate import Certificate, CertificateSpec
from ...api.cluster import Gateway, Ingress
from ...api.common import IssuerReference
from ...api.meta import ObjectMeta, Resource
from ...api.validation import validate
from . import annotations as a

APPLYSET_LABEL = "applyset.kubernetes.io/part-of"
#: listener protocols that terminate TLS with a certificate (plus --gateway-api-extra-protocols)
TLS_PROTOCOLS = ("HTTPS", "TLS")


class BadConfig(ValueError):
    """The object asks for Certificates in a way that cannot be followed; the message
    names the annotation or field at fault (a Warning event ``BadConfig``)."""


@dataclasses.dataclass(frozen=True)
class ShimSettings:
    """cert-manager's ingress-shim flags."""

    default_issuer_name: str = ""
    default_issuer_kind: str = "Issuer"
    default_issuer_group: str = "cert-manager.io"
    auto_certificate_annotations: tuple[str, ...] = (a.TLS_ACME,)
    extra_certificate_annotations: tuple[str, ...] = ()
    gateway_extra_protocols: tuple[str, ...] = ()


def wants_certificates(obj: Resource, settings: ShimSettings) -> bool:
    """Whether the shim acts on ``obj`` at all (cert-manager's shouldSync)."""
    ann = obj.annotations()
    if a.ISSUER in ann or a.CLUSTER_ISSUER in ann:
        return True
    return isinstance(obj, Ingress) and any(a.truthy(ann.get(k)) for k in settings.auto_certificate_annotations)


def issuer_ref(ann: Mapping[str, str], settings: ShimSettings) -> IssuerReference:
    name, kind, group = settings.default_issuer_name, settings.default_issuer_kind, settings.default_issuer_group
    if a.ISSUER in ann and a.CLUSTER_ISSUER in ann:
        raise BadConfig(f'both "{a.ISSUER}" and "{a.CLUSTER_ISSUER}" are set; only one may be')
    if a.ISSUER in ann:
        name, kind = ann[a.ISSUER], "Issuer"
    if a.CLUSTER_ISSUER in ann:
        if a.ISSUER_KIND in ann or a.ISSUER_GROUP in ann:
            raise BadConfig(
                f'"{a.CLUSTER_ISSUER}" may not be set together with "{a.ISSUER_KIND}" or "{a.ISSUER_GROUP}"'
            )
        name, kind = ann[a.CLUSTER_ISSUER], "ClusterIssuer"
    kind = ann.get(a.ISSUER_KIND, kind)
    group = ann.get(a.ISSUER_GROUP, group)
    if not name:
        raise BadConfig(
            f'no issuer: set "{a.ISSUER}" or "{a.CLUSTER_ISSUER}" (or run with --default-issuer-name)'
        )
    return IssuerReference(name=name, kind=kind, group=group)


@dataclasses.dataclass
class Wanted:
    """One Certificate to be: its secret's hosts, and where they were declared."""

    secret_name: str
    hosts: list[str]
    where: str


def ingress_entries(ing: Ingress) -> tuple[list[Wanted], list[str]]:
    """(entries, skipped): one per ``spec.tls`` item; items without hosts or a secretName
    are skipped with a reason (cert-manager records them as warnings and goes on)."""
    out: list[Wanted] = []
    skipped: list[str] = []
    seen: dict[str, str] = {}
    for i, tls in enumerate(_list((ing.spec or {}).get("tls"))):
        where = f"spec.tls[{i}]"
        raw_hosts = tls.get("hosts")
        hosts = [h for h in raw_hosts if isinstance(h, str) and h] if isinstance(raw_hosts, list) else []
        secret = tls.get("secretName")
        if not hosts:
            skipped.append(f"{where}.hosts: Required value: the TLS entry has no hosts")
            continue
        if not isinstance(secret, str) or not secret:
            skipped.append(f"{where}.secretName: Required value: the TLS entry has no secretName")
            continue
        if secret in seen:
            raise BadConfig(f'{where}.secretName: Duplicate value: "{secret}" is also used by {seen[secret]}')
        seen[secret] = where
        out.append(Wanted(secret, hosts, where))
    return out, skipped


def gateway_entries(gw: Gateway, settings: ShimSettings) -> tuple[list[Wanted], list[str]]:
    """One per Secret named by a TLS-terminating listener; listeners sharing a Secret
    share its Certificate, whose names are the union of their hostnames."""
    ignored = set(a.split_list(gw.annotations().get(a.IGNORE_TLS_LISTENERS, "")))
    protocols = {*TLS_PROTOCOLS, *settings.gateway_extra_protocols}
    by_secret: dict[str, Wanted] = {}
    skipped: list[str] = []
    for i, listener in enumerate(_list((gw.spec or {}).get("listeners"))):
        where = f"spec.listeners[{i}]"
        if listener.get("name") in ignored or listener.get("protocol") not in protocols:
            continue
        tls = listener.get("tls")
        if not isinstance(tls, dict) or (tls.get("mode") or "Terminate") != "Terminate":
            continue
        hostname = listener.get("hostname")
        if not isinstance(hostname, str) or not hostname:
            skipped.append(f"{where}.hostname: Required value: a listener needs a hostname for its certificate")
            continue
        for j, ref in enumerate(_list(tls.get("certificateRefs"))):
            if (ref.get("group") or "") not in ("", "core") or (ref.get("kind") or "Secret") != "Secret":
                skipped.append(f"{where}.tls.certificateRefs[{j}]: only core Secrets are supported")
                continue
            if (ref.get("namespace") or gw.namespace) != gw.namespace:
                skipped.append(f"{where}.tls.certificateRefs[{j}].namespace: must be the Gateway's own")
                continue
            name = ref.get("name")
            if not isinstance(name, str) or not name:
                continue
            wanted = by_secret.setdefault(name, Wanted(name, [], f"{where}.tls.certificateRefs[{j}]"))
            if hostname not in wanted.hosts:
                wanted.hosts.append(hostname)
    return list(by_secret.values()), skipped


def _list(value: Any) -> list[Any]:
    """The objects of a list in a loosely typed spec (anything else is not ours to judge)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def http01_overrides(obj: Resource) -> dict[str, str]:
    """The ACME HTTP-01 hints a shim passes on as Certificate annotations."""
    ann = obj.annotations()
    out: dict[str, str] = {}
    if isinstance(obj, Gateway):
        out[a.PARENT_REF_KIND] = "Gateway"
        out[a.PARENT_REF_NAME] = obj.name
        return out
    edit = ann.get(a.EDIT_IN_PLACE)
    if edit is not None and edit != "false":
        if edit != "true":
            raise BadConfig(f'annotation "{a.EDIT_IN_PLACE}": invalid value "{edit}": must be "true" or "false"')
        out[a.OVERRIDE_INGRESS_NAME] = obj.name
        out[a.ISSUE_TEMPORARY] = "true"
    if a.INGRESS_CLASS in ann:
        out[a.OVERRIDE_INGRESS_CLASS] = ann[a.INGRESS_CLASS]
    if a.INGRESS_CLASSNAME in ann:
        out[a.OVERRIDE_INGRESS_CLASSNAME] = ann[a.INGRESS_CLASSNAME]
    chosen = [k for k in (a.OVERRIDE_INGRESS_NAME, a.OVERRIDE_INGRESS_CLASS, a.OVERRIDE_INGRESS_CLASSNAME) if k in out]
    if len(chosen) > 1:
        sources = {a.OVERRIDE_INGRESS_NAME: a.EDIT_IN_PLACE, a.OVERRIDE_INGRESS_CLASS: a.INGRESS_CLASS,
                   a.OVERRIDE_INGRESS_CLASSNAME: a.INGRESS_CLASSNAME}
        raise BadConfig("only one of " + ", ".join(f'"{sources[k]}"' for k in chosen) + " may be set")
    return out


#: Certificate annotations the shim owns: set when wanted, removed when no longer
MANAGED_ANNOTATIONS = frozenset(
    {a.OVERRIDE_INGRESS_NAME, a.OVERRIDE_INGRESS_CLASS, a.OVERRIDE_INGRESS_CLASSNAME, a.ISSUE_TEMPORARY,
     a.PARENT_REF_KIND, a.PARENT_REF_NAME}
)


def desired_certificates(obj: Ingress | Gateway, settings: ShimSettings) -> tuple[list[Certificate], list[str]]:
    """(certificates, skipped entries). BadConfig (or annotations.BadAnnotation) when the
    object's annotations cannot be followed: then nothing may change."""
    ann = obj.annotations()
    ref = issuer_ref(ann, settings)
    if isinstance(obj, Ingress):
        entries, skipped = ingress_entries(obj)
    else:
        entries, skipped = gateway_entries(obj, settings)
    overrides = http01_overrides(obj)
    labels = {k: v for k, v in obj.labels().items() if k != APPLYSET_LABEL}
    extra = {k: ann[k] for k in settings.extra_certificate_annotations if k in ann}
    out = []
    for entry in entries:
        dns_names, ips = split_hosts(entry.hosts)
        spec = CertificateSpec(
            dns_names=dns_names or None,
            ip_addresses=ips or None,
            secret_name=entry.secret_name,
            issuer_ref=ref.model_copy(),
            usages=list(a.DEFAULT_USAGES),
        )
        a.apply_annotations(spec, ann)
        cert = Certificate(
            api_version=Certificate.API_VERSION,
            kind=Certificate.KIND,
            metadata=ObjectMeta(
                name=entry.secret_name,
                namespace=obj.namespace,
                labels=dict(labels) or None,
                annotations={**extra, **overrides} or None,
                owner_references=[obj.as_owner()],
            ),
            spec=spec,
        )
        errors = validate(cert)
        if errors:
            raise BadConfig(f"the Certificate for {entry.where} would be invalid: " + "; ".join(map(str, errors)))
        out.append(cert)
    return out, skipped


def split_hosts(hosts: list[str]) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses), each once, in the order given."""
    dns: list[str] = []
    ips: list[str] = []
    for h in hosts:
        try:
            ip = str(ipaddress.ip_address(h))
        except ValueError:
            if h not in dns:
                dns.append(h)
            continue
        if ip not in ips:
            ips.append(ip)
    return dns, ips
