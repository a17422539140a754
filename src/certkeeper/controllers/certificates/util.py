"""Helpers shared by the certificates controllers: conditions, ownership of the Secret,
and the watch mappings that route Secret and CertificateRequest events to Certificates."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable

from cryptography import x509

from ...acme.ari import cert_id, pick_time
from ...api import constants as c
from ...api.certificate import Certificate, CertificateStatus
from ...api.core import Secret
from ...api.meta import Condition, get_condition, parse_time
from ...pki.renewal import renewal_time
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
    certificate-name annotation, its controller (next-key Secrets), and any that name it
    as secretName or as a keystore password Secret (found through an index kept up to
    date from Certificate events, so no event lists every Certificate)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.RLock()
        # (namespace, secret) -> certificates naming it as their target Secret
        self._by_secret: dict[tuple[str | None, str], set[str]] = {}
        # (namespace, secret) -> certificates reading a keystore password from it
        self._by_password: dict[tuple[str | None, str], set[str]] = {}
        self._refs_of: dict[tuple[str | None, str], tuple[str | None, frozenset[str]]] = {}
        self._primed = False
        self._last_event: WatchEvent | None = None

    def _prime(self) -> None:
        with self._lock:
            if not self._primed:
                self._primed = True
                for cert in self.store.list(Certificate):
                    self._index(cert.namespace, cert.name, cert)

    def _index(self, ns: str | None, name: str, cert: Certificate | None) -> None:
        with self._lock:
            old = self._refs_of.pop((ns, name), None)
            if old is not None:
                target, passwords = old
                if target:
                    self._by_secret.get((ns, target), set()).discard(name)
                for p in passwords:
                    self._by_password.get((ns, p), set()).discard(name)
            if cert is None:
                return
            target = cert.spec.secret_name
            passwords = frozenset(password_secret_names(cert))
            self._refs_of[(ns, name)] = (target, passwords)
            if target:
                self._by_secret.setdefault((ns, target), set()).add(name)
            for p in passwords:
                self._by_password.setdefault((ns, p), set()).add(name)

    def certificates_naming(self, ns: str | None, secret_name: str) -> list[str]:
        self._prime()
        with self._lock:
            return sorted(self._by_secret.get((ns, secret_name), ()))

    def on_certificate(self, event: WatchEvent) -> Iterable[Key]:
        self._prime()
        with self._lock:
            # every certificates controller hands the same event here: index it once
            if event is not self._last_event:
                self._last_event = event
                obj = event.obj if isinstance(event.obj, Certificate) and event.type != "DELETED" else None
                self._index(event.namespace, event.name, obj)
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
        with self._lock:
            for name in self._by_secret.get((event.namespace, event.name), ()):
                keys.add((event.namespace, name))
            for name in self._by_password.get((event.namespace, event.name), ()):
                keys.add((event.namespace, name))
        return keys


def password_secret_names(cert: Certificate) -> set[str]:
    ks = cert.spec.keystores
    names: set[str] = set()
    for store in (ks.jks, ks.pkcs12) if ks else ():
        if store is not None and store.password_secret_ref is not None and store.password_secret_ref.name:
            names.add(store.password_secret_ref.name)
    return names


RENEWAL_FROM_SPEC = "spec"
RENEWAL_FROM_ARI = "ari"


def ari_window(cert: Certificate, leaf: x509.Certificate) -> tuple[dt.datetime, dt.datetime] | None:
    """The ACME server's suggested renewal window when it belongs to ``leaf``."""
    acme = cert.status.acme if cert.status else None
    ari = acme.ari if acme else None
    window = ari.suggested_window if ari else None
    if ari is None or window is None or not window.start or not window.end or not ari.cert_id:
        return None
    try:
        if cert_id(leaf) != ari.cert_id:
            return None
    except ValueError:
        return None
    return parse_time(window.start), parse_time(window.end)


def scheduled_renewal(cert: Certificate, leaf: x509.Certificate) -> tuple[dt.datetime | None, str]:
    """When to renew ``leaf`` and why: a time inside the ACME server's suggested window
    when it sent one (RFC 9773), else from renewBefore / renewBeforePercentage."""
    window = ari_window(cert, leaf)
    if window is not None:
        return pick_time(window[0], window[1], cert.uid or f"{cert.namespace}/{cert.name}"), RENEWAL_FROM_ARI
    return renewal_time(leaf.not_valid_before_utc, leaf.not_valid_after_utc, cert.spec), RENEWAL_FROM_SPEC
