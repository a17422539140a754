"""certificates-request-manager: one CertificateRequest for the next revision, built
from the spec and the next private key, named ``<certificate>-<revision>``."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Hashable, Iterable

from ...api import constants as c
from ...api.certificate import Certificate, CertificateRequest, CertificateRequestSpec
from ...api.core import TLS_KEY, Secret
from ...api.meta import ObjectMeta, get_condition, parse_time
from ...pki.csr import build_csr, decode_csr
from ...pki.errors import PKIError
from ...pki.keys import PrivateKey, decode_private_key, public_keys_equal
from ...pki.match import request_matches_spec
from ...runtime.controller import Context, Mapper, Result
from ...runtime.queue import Key
from ...store.base import AlreadyExists, EventType, NotFound, Store, WatchEvent
from .base import CertificateController, issuance_progress
from .gather import next_revision, owned_requests, revision_of
from .util import is_issuing, issuing_since

SKIPPED_ANNOTATION_PREFIXES = ("kubectl.kubernetes.io/", "fluxcd.io/", "argocd.argoproj.io/")


def request_name(cert_name: str, revision: int) -> str:
    """cert-manager's stable name; very long names are shortened with a hash."""
    name = f"{cert_name}-{revision}"
    if len(cert_name) > 233:
        digest = hashlib.sha256(name.encode()).hexdigest()
        name = f"{cert_name[:52].rstrip('-.')}-{digest}"
    return name


def load_next_key(store: Store, cert: Certificate) -> tuple[Secret, PrivateKey] | None:
    name = cert.status.next_private_key_secret_name if cert.status else None
    if not name:
        return None
    secret = store.try_get(Secret, cert.namespace, name)
    if secret is None:
        return None
    data = secret.get(TLS_KEY)
    if not data:
        return None
    try:
        return secret, decode_private_key(data)
    except PKIError:
        return None


def request_is_usable(cr: CertificateRequest, cert: Certificate, key: PrivateKey) -> bool:
    try:
        if request_matches_spec(cr.spec, cert.spec):
            return False
        csr = decode_csr(cr.spec.request or b"")
    except PKIError:
        return False
    return public_keys_equal(csr.public_key(), key)


def _request_inputs(cr: CertificateRequest) -> Hashable:
    """What the request manager's decision reads of a request: its spec (by generation),
    revision, controller, whether it failed and when, and whether it is going away."""
    ready = get_condition(cr.status.conditions if cr.status else None, c.COND_READY)
    ref = cr.controller_ref()
    return (
        cr.metadata.generation, cr.annotations().get(c.ANN_REVISION), ref.uid if ref else None,
        ready is not None and ready.status == "False" and ready.reason == c.CR_FAILED,
        cr.status.failure_time if cr.status else None, cr.metadata.deletion_timestamp,
    )


def _finished(cr: CertificateRequest) -> bool:
    ready = get_condition(cr.status.conditions if cr.status else None, c.COND_READY)
    return ready is not None and ready.reason in (c.CR_ISSUED, c.CR_FAILED, c.CR_DENIED)


def failed_before_issuing(cr: CertificateRequest, cert: Certificate) -> bool:
    """A failure left over from an earlier attempt at the same revision."""
    ready = get_condition(cr.status.conditions if cr.status else None, c.COND_READY)
    if ready is None or ready.status != "False" or ready.reason != c.CR_FAILED:
        return False
    since = issuing_since(cert)
    failure = cr.status.failure_time if cr.status else None
    return since is not None and failure is not None and parse_time(failure) < since


class RequestManagerController(CertificateController):
    name = "certificates-request-manager"
    only_next_key_secrets = True

    # its own requests' creation tells it nothing; their failure or deletion does
    request_events = frozenset({EventType.MODIFIED, EventType.DELETED})

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        # requests still on their way -> a digest of what this controller reads of them
        self._requests: dict[Key, int] = {}
        self._requests_lock = threading.Lock()

    def wants(self, cert: Certificate) -> bool:
        return is_issuing(cert)

    def fingerprint(self, cert: Certificate) -> Hashable | None:
        return issuance_progress(cert)

    def watches(self) -> list[tuple[str, Mapper]]:
        return [
            (kind, self._changed_requests(mapper) if kind == "CertificateRequest" else mapper)
            for kind, mapper in super().watches()
        ]

    def _changed_requests(self, mapper: Mapper) -> Mapper:
        """A request event matters when something this controller reads of the request
        changed: its approval or its issuance (another controller's status writes) does
        not. Remembered only while a request is on its way, so finished ones cost nothing."""

        def on_request(event: WatchEvent) -> Iterable[Key]:
            key = (event.namespace, event.name)
            cr = event.obj
            if event.type == EventType.DELETED or not isinstance(cr, CertificateRequest):
                with self._requests_lock:
                    self._requests.pop(key, None)
                return mapper(event)
            digest = hash(_request_inputs(cr))
            with self._requests_lock:
                known = self._requests.pop(key, None)
                if not _finished(cr):
                    self._requests[key] = digest
            if known == digest:
                return []
            return mapper(event)

        return on_request

    def reconcile(self, key: Key) -> Result | None:
        cert = self.get_certificate(key)
        if cert is None or not is_issuing(cert):
            return None
        loaded = load_next_key(self.store, cert)
        if loaded is None:
            return None
        key_secret, private_key = loaded
        revision = next_revision(cert)
        keep: list[CertificateRequest] = []
        for cr in owned_requests(self.store, cert):
            rev = revision_of(cr)
            if rev is None:
                self._delete(cr)
                continue
            if rev != revision:
                continue
            if not request_is_usable(cr, cert, private_key) or failed_before_issuing(cr, cert):
                self._delete(cr)
                continue
            keep.append(cr)
        if len(keep) > 1:
            self.log.info("Certificate %s/%s has %d requests for revision %d; waiting",
                          cert.namespace, cert.name, len(keep), revision)
            return None
        if keep:
            return None
        return self._create(cert, key_secret, private_key, revision)

    def _delete(self, cr: CertificateRequest) -> None:
        with contextlib.suppress(NotFound):
            self.store.delete(CertificateRequest, cr.namespace, cr.name)

    def _create(self, cert: Certificate, key_secret: Secret, key: PrivateKey, revision: int) -> Result | None:
        try:
            csr_pem = build_csr(cert.spec, key)
        except PKIError as e:
            self.recorder.event(cert, "Warning", "RequestFailed", f"Failed to generate CSR: {e} - will not retry")
            return None
        annotations = {
            k: v for k, v in cert.annotations().items() if not k.startswith(SKIPPED_ANNOTATION_PREFIXES)
        }
        annotations.update({
            c.ANN_REVISION: str(revision),
            c.ANN_PRIVATE_KEY_SECRET: key_secret.name,
            c.ANN_CERTIFICATE_NAME: cert.name,
        })
        cr = CertificateRequest(
            api_version=CertificateRequest.API_VERSION,
            kind=CertificateRequest.KIND,
            metadata=ObjectMeta(
                name=request_name(cert.name, revision),
                namespace=cert.namespace,
                annotations=annotations,
                labels=dict(cert.labels()) or None,
                owner_references=[cert.as_owner()],
            ),
            spec=CertificateRequestSpec(
                duration=cert.spec.duration,
                issuer_ref=cert.spec.issuer_ref.model_copy() if cert.spec.issuer_ref else None,
                request=csr_pem,
                is_ca=cert.spec.is_ca,
                usages=list(cert.spec.usages) if cert.spec.usages is not None else None,
            ),
        )
        try:
            created = self.store.create(cr)
        except AlreadyExists:
            # a request by this name exists but is not ours or not usable: make room
            existing = self.store.try_get(CertificateRequest, cert.namespace, cr.name)
            if existing is not None and existing.is_controlled_by(cert):
                self._delete(existing)
                return Result()
            raise
        self.recorder.event(cert, "Normal", "Requested", f'Created new CertificateRequest resource "{created.name}"')
        return None
