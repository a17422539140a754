"""certificates-key-manager: keeps exactly one "next private key" Secret while issuing.

The next key lives in its own Secret (owned by the Certificate, PKCS#8) until issuing
copies it into the target Secret; so a crash at any point leaves either the old key+cert
pair untouched or a complete new pair, never a key without its certificate.

A new key is asked of the context's key source (``runtime/keypool.py``): an RSA key is
made by another process while this worker reconciles others, and the Certificate is
queued again when the key is there. Until it is written into its Secret a key lives only
in this process, so a crash merely loses it and a new one is made.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Hashable
from concurrent.futures import Future

from ...api import constants as c
from ...api.certificate import Certificate, CertificatePrivateKey
from ...api.core import TLS_KEY, Secret
from ...api.meta import ObjectMeta
from ...pki.errors import PKIError
from ...pki.keys import PrivateKey, decode_private_key, encode_pkcs8, key_mismatches_spec
from ...runtime.controller import Context, Result
from ...runtime.keypool import SERVICE as KEY_SOURCE
from ...runtime.keypool import InlineKeys, KeySource
from ...runtime.queue import Key
from ...store.base import AlreadyExists, NotFound
from .base import CertificateController, issuing_state
from .policies import go_list
from .util import is_issuing, status_of


def rotation_policy(cert: Certificate) -> str:
    pk = cert.spec.private_key
    return (pk.rotation_policy if pk and pk.rotation_policy else None) or "Always"


class KeyManagerController(CertificateController):
    name = "certificates-key-manager"
    watch_requests = False  # keys depend on the Issuing condition and the key Secrets only
    only_next_key_secrets = True

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.keys: KeySource = ctx.services.get(KEY_SOURCE) or InlineKeys()
        #: keys being made, per Certificate: (its uid and key spec, the key to come)
        self._pending: dict[Key, tuple[tuple[str, str | None, int | None], Future[PrivateKey]]] = {}
        self._pending_lock = threading.Lock()

    def wants(self, cert: Certificate) -> bool:
        return is_issuing(cert) or bool(cert.status and cert.status.next_private_key_secret_name)

    def fingerprint(self, cert: Certificate) -> Hashable | None:
        # not the next key's name: recording it is this controller's own write
        return (cert.metadata.generation, issuing_state(cert))

    def candidates(self, cert: Certificate) -> list[Secret]:
        return [
            s
            for s in self.store.list(Secret, cert.namespace, {c.LABEL_NEXT_PRIVATE_KEY: "true"}, owner_uid=cert.uid)
            if s.is_controlled_by(cert)
        ]

    def _delete(self, secret: Secret) -> None:
        with contextlib.suppress(NotFound):
            self.store.delete(Secret, secret.namespace, secret.name)

    def _set_next_name(self, cert: Certificate, name: str | None) -> None:
        status = status_of(cert)
        if status.next_private_key_secret_name != name:
            status.next_private_key_secret_name = name
            self.store.update_status(cert)

    def reconcile(self, key: Key) -> Result | None:
        cert = self.get_certificate(key)
        if cert is None:
            self._forget(key)
            return None
        secrets = self.candidates(cert)
        status = status_of(cert)
        if not is_issuing(cert):
            self._forget(key)
            for s in secrets:
                self._delete(s)
            self._set_next_name(cert, None)
            return None

        if len(secrets) > 1:
            keep = status.next_private_key_secret_name
            for s in secrets:
                if s.name != keep:
                    self._delete(s)
            return None

        if not secrets:
            return self._create_next_key(key, cert)

        secret = secrets[0]
        if status.next_private_key_secret_name is None:
            self._set_next_name(cert, secret.name)
            return None
        if secret.name != status.next_private_key_secret_name:
            self._delete(secret)
            return None
        data = secret.get(TLS_KEY)
        if not data:
            self._delete(secret)
            return None
        try:
            key_obj = decode_private_key(data)
        except PKIError:
            self._delete(secret)
            return None
        violations = key_mismatches_spec(key_obj, cert.spec)
        if violations:
            self.recorder.event(
                cert, "Normal", "Deleted",
                f"Regenerating private key due to change in fields: {go_list(violations)}",
            )
            self._delete(secret)
        return None

    def _forget(self, key: Key) -> None:
        with self._pending_lock:
            entry = self._pending.pop(key, None)
        if entry is not None:
            entry[1].cancel()

    def _new_key(self, key: Key, cert: Certificate) -> PrivateKey | None:
        """A key made for this Certificate's spec, or None while it is being made (the
        Certificate is queued again when it is ready). A spec the key source refuses
        raises, as does a failed generation: the manager retries with back-off."""
        pk = cert.spec.private_key or CertificatePrivateKey()
        wanted = (cert.uid, pk.algorithm, pk.size)
        with self._pending_lock:
            entry = self._pending.pop(key, None)
            if entry is not None and entry[0] == wanted and not entry[1].done():
                self._pending[key] = entry
                return None
        if entry is not None:
            if entry[0] == wanted:
                return entry[1].result()
            entry[1].cancel()  # made for another spec or an earlier Certificate of this name
        future = self.keys.generate(cert.spec.private_key)
        if future.done():
            return future.result()
        with self._pending_lock:
            self._pending[key] = (wanted, future)
        future.add_done_callback(lambda _: self.requeue(key))
        return None

    def _create_next_key(self, key: Key, cert: Certificate) -> Result | None:
        pem: bytes | None = None
        if rotation_policy(cert) == "Never":
            target = self.store.try_get(Secret, cert.namespace, cert.spec.secret_name or "")
            existing = target.get(TLS_KEY) if target is not None else None
            if existing:
                try:
                    key_obj = decode_private_key(existing)
                except PKIError as e:
                    self.recorder.event(cert, "Warning", "DecodeFailed", f"Failed to decode private key stored in Secret: {e}")
                else:
                    violations = key_mismatches_spec(key_obj, cert.spec)
                    if violations:
                        self.recorder.event(
                            cert, "Warning", "CannotRegenerateKey",
                            "User intervention required: existing private key in Secret does not match "
                            f"requirements on Certificate resource, mismatching fields: {go_list(violations)}, "
                            "but cert-manager cannot create new private key as the Certificate's "
                            ".spec.privateKey.rotationPolicy field is set to \"Never\". The private key will "
                            "not be rotated until the field is changed to \"Always\".",
                        )
                        return None
                    pem = encode_pkcs8(key_obj)
                    self.recorder.event(cert, "Normal", "Reused", "Reusing private key stored in existing Secret resource")
        if pem is None:
            new_key = self._new_key(key, cert)
            if new_key is None:
                return None
            pem = encode_pkcs8(new_key)

        status = status_of(cert)
        meta = ObjectMeta(
            namespace=cert.namespace,
            labels={c.LABEL_NEXT_PRIVATE_KEY: "true", c.LABEL_FAO: "true"},
            owner_references=[cert.as_owner()],
        )
        if status.next_private_key_secret_name:
            meta.name = status.next_private_key_secret_name
        else:
            meta.generate_name = f"{cert.name}-"
        secret = Secret(api_version="v1", kind="Secret", metadata=meta, type="Opaque")
        secret.set(TLS_KEY, pem)
        try:
            created = self.store.create(secret)
        except AlreadyExists:
            return None
        self.recorder.event(cert, "Normal", "Generated", f'Stored new private key in temporary Secret resource "{created.name}"')
        self._set_next_name(cert, created.name)
        return None
