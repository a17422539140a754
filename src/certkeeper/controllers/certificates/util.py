"""Helpers shared by the certificates controllers: conditions, ownership of the Secret,
and the watch mappings that route Secret and CertificateRequest events to Certificates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from ...api import constants as c
from ...api.certificate import Certificate, CertificateStatus
from ...api.core import Secret
from ...api.meta import Condition, get_condition, parse_time
from ...runtime.controller import Context
from ...runtime.queue import Key
from ...store.base import Store, WatchEvent


def status_of(cert: Certificate) -> CertificateStatus:
    if cert.status is None:
        cert.status = CertificateStatus()
    return cert.status


def condition(cert: Certificate, ctype: str) -> Condition | None:
    return get_condition(cert.status.conditions if cert.status else None, ctype)


def is_issuing(cert: Certificate) -> bool:
    cond = condition(cert, c.COND_ISSUING)
    return cond is not None and cond.status == "True"


def issuing_since(cert: Certificate) -> dt.datetime | None:
    cond = condition(cert, c.COND_ISSUING)
    if cond is None or cond.status != "True" or not cond.last_transition_time:
        return None
    return parse_time(cond.last_transition_time)


def owns_secret(store: Store, index: SecretMapper, cert: Certificate) -> tuple[bool, list[str]]:
    """cert-manager's CertificateOwnsSecret: among Certificates naming the same Secret, the
    one named in the Secret's certificate-name annotation wins, else the oldest."""
    others = []
    for name in index.certificates_naming(cert.namespace, cert.spec.secret_name or ""):
        if name == cert.name:
            continue
        other = store.try_get(Certificate, cert.namespace, name)
        if other is not None and other.spec.secret_name == cert.spec.secret_name:
            others.append(other)
    if not others:
        return True, []
    dupes = sorted(o.name for o in others)
    secret = store.try_get(Secret, cert.namespace, cert.spec.secret_name or "")
    if secret is not None:
        owner = secret.annotations().get(c.ANN_CERTIFICATE_NAME)
        if owner == cert.name:
            return True, dupes
        if owner in dupes:
            return False, dupes
    everyone = [cert, *others]
    everyone.sort(key=lambda o: (o.metadata.creation_timestamp or "", o.name))
    return everyone[0].name == cert.name, dupes


def cert_index(ctx: Context) -> SecretMapper:
    """One index per daemon, shared by every certificates controller."""
    index = ctx.services.get("certificate-secret-index")
    if index is None:
        index = ctx.services["certificate-secret-index"] = SecretMapper(ctx.store)
    assert isinstance(index, SecretMapper)
    return index


class SecretMapper:
    """Route a Secret event to the Certificates that care: the one named in its
    certificate-name annotation, its controller (next-key Secrets), and any whose
    secretName it is (found through an index kept up to date from Certificate events)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._by_secret: dict[tuple[str | None, str], set[str]] = {}
        self._secret_of: dict[tuple[str | None, str], str] = {}
        self._primed = False

    def _prime(self) -> None:
        if not self._primed:
            self._primed = True
            for cert in self.store.list(Certificate):
                self._index(cert.namespace, cert.name, cert.spec.secret_name)

    def _index(self, ns: str | None, name: str, secret_name: str | None) -> None:
        old = self._secret_of.pop((ns, name), None)
        if old is not None:
            self._by_secret.get((ns, old), set()).discard(name)
        if secret_name:
            self._secret_of[(ns, name)] = secret_name
            self._by_secret.setdefault((ns, secret_name), set()).add(name)

    def certificates_naming(self, ns: str | None, secret_name: str) -> list[str]:
        self._prime()
        return sorted(self._by_secret.get((ns, secret_name), ()))

    def on_certificate(self, event: WatchEvent) -> Iterable[Key]:
        self._prime()
        if event.type == "DELETED":
            self._index(event.namespace, event.name, None)
        else:
            assert isinstance(event.obj, Certificate)
            self._index(event.namespace, event.name, event.obj.spec.secret_name)
        return [(event.namespace, event.name)]

    def on_secret(self, event: WatchEvent) -> Iterable[Key]:
        self._prime()
        keys: set[Key] = set()
        ann = event.obj.annotations()
        if c.ANN_CERTIFICATE_NAME in ann:
            keys.add((event.namespace, ann[c.ANN_CERTIFICATE_NAME]))
        ref = event.obj.controller_ref()
        if ref is not None and ref.kind == "Certificate":
            keys.add((event.namespace, ref.name))
        for name in self._by_secret.get((event.namespace, event.name), ()):
            keys.add((event.namespace, name))
        return keys
