"""certificates-issuing: moves a signed certificate and its next key into the Secret.

The Secret is written in one store update (key, chain and CA together), then the status
records the new revision. A crash between the two leaves a consistent Secret and an
``Issuing`` condition that makes this controller write the same Secret again — so a key
and a certificate are never mixed up, whatever is killed when.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable

from cryptography import x509

from ...api import constants as c
from ...api.certificate import Certificate, CertificateRequest
from ...api.common import IssuerReference
from ...api.core import CA_CERT, TLS_CERT, TLS_KEY, Secret
from ...api.meta import Condition, get_condition, remove_condition, set_condition
from ...pki.chain import parse_certificates
from ...pki.csr import decode_csr
from ...pki.errors import PKIError
from ...pki.keys import (
    PrivateKey,
    decode_private_key,
    encode_private_key,
    key_mismatches_spec,
    public_keys_equal,
)
from ...pki.secretdata import (
    additional_output_formats,
    build_keystores,
    certificate_annotations,
    keystore_opens,
)
from ...pki.temporary import temporary_certificate
from ...runtime.controller import Context, Result
from ...runtime.queue import Key
from ...store.base import Store
from .base import CertificateController, issuance_progress
from .gather import gather
from .requestmanager import failed_before_issuing, load_next_key, request_is_usable
from .secretapply import SecretApply, apply_secret, desired_secret
from .util import condition, is_issuing, status_of

KEYSTORE_KEYS = ("keystore.p12", "truststore.p12", "keystore.jks", "truststore.jks")


class KeystorePasswordError(Exception):
    pass


def keystore_password(store: Store, cert: Certificate, which: str) -> str | None:
    ks = cert.spec.keystores
    conf = getattr(ks, which) if ks else None
    if conf is None or not conf.create:
        return None
    if conf.password:
        return str(conf.password)
    ref = conf.password_secret_ref
    if ref is None or not ref.name:
        raise KeystorePasswordError(f"no password given for the {which} keystore")
    secret = store.try_get(Secret, cert.namespace, ref.name)
    if secret is None:
        raise KeystorePasswordError(f'keystore password Secret "{ref.name}" not found')
    value = secret.get(ref.key or "")
    if not value:
        raise KeystorePasswordError(f'keystore password Secret "{ref.name}" has no data for key "{ref.key}"')
    return value.decode()


def build_apply(
    store: Store,
    cert: Certificate,
    key: PrivateKey,
    chain_pem: bytes,
    ca_pem: bytes | None,
    issuer_ref: IssuerReference | None,
    owner_ref: bool,
) -> SecretApply:
    """Everything cert-manager puts on the Secret for this key and certificate."""
    encoding = cert.spec.private_key.encoding if cert.spec.private_key else None
    key_pem = encode_private_key(key, encoding)
    data: dict[str, bytes] = {}
    ks = cert.spec.keystores
    if ks is not None and ((ks.jks and ks.jks.create) or (ks.pkcs12 and ks.pkcs12.create)):
        data.update(
            build_keystores(
                ks, key, chain_pem, ca_pem or None,
                keystore_password(store, cert, "jks"), keystore_password(store, cert, "pkcs12"),
            )
        )
    data.update(additional_output_formats(cert.spec.additional_output_formats, key_pem, chain_pem))
    data[TLS_KEY] = key_pem
    data[TLS_CERT] = chain_pem
    if ca_pem:
        data[CA_CERT] = ca_pem
    template = cert.spec.secret_template
    labels = dict(template.labels or {}) if template else {}
    labels[c.LABEL_FAO] = "true"
    annotations = dict(template.annotations or {}) if template else {}
    leaf = parse_certificates(chain_pem)[0]
    annotations.update(certificate_annotations(leaf))
    annotations[c.ANN_CERTIFICATE_NAME] = cert.name
    if issuer_ref is not None and (issuer_ref.name or issuer_ref.kind or issuer_ref.group):
        annotations[c.ANN_ISSUER_NAME] = issuer_ref.name or ""
        annotations[c.ANN_ISSUER_KIND] = issuer_ref.kind or ""
        annotations[c.ANN_ISSUER_GROUP] = issuer_ref.group or ""
    return SecretApply(
        namespace=cert.namespace or "",
        name=cert.spec.secret_name or "",
        data=data,
        labels=labels,
        annotations=annotations,
        owner=cert.as_owner() if owner_ref else None,
    )


def _same_ignoring_keystore_bytes(a: Secret, b: Secret) -> bool:
    """Keystores are re-encoded with fresh salts on every write; compare presence only."""
    da, db = dict(a.data or {}), dict(b.data or {})
    for k in KEYSTORE_KEYS:
        if (k in da) != (k in db):
            return False
        da.pop(k, None)
        db.pop(k, None)
    return (
        da == db
        and a.labels() == b.labels()
        and a.annotations() == b.annotations()
        and (a.metadata.owner_references or []) == (b.metadata.owner_references or [])
    )


#: Certificates whose Secret was last found in step, remembered (a bound, not an LRU)
IN_STEP_KEPT = 10_000


class IssuingController(CertificateController):
    name = "certificates-issuing"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._in_step: dict[Key, int] = {}

    def fingerprint(self, cert: Certificate) -> Hashable | None:
        return issuance_progress(cert)

    def reconcile(self, key: Key) -> Result | None:
        cert = self.get_certificate(key)
        if cert is None:
            return None
        if not is_issuing(cert):
            self.ensure_secret_data(cert)
            return None
        loaded = load_next_key(self.store, cert)
        if loaded is None:
            return None
        _, next_key = loaded
        if key_mismatches_spec(next_key, cert.spec):
            return None
        input = gather(self.store, cert)
        cr = input.next_request
        if cr is None:
            return None
        conds = cr.status.conditions if cr.status else None
        if not _decided(conds) and cert.annotations().get(c.ANN_ISSUE_TEMPORARY) != "true":
            return None  # the request is still on its way and no temporary certificate is wanted
        if not request_is_usable(cr, cert, next_key) or failed_before_issuing(cr, cert):
            return None
        for ctype in (c.COND_DENIED, c.COND_INVALID_REQUEST):
            cond = get_condition(conds, ctype)
            if cond is not None and cond.status == "True":
                return self.fail(cert, cond)
        ready = get_condition(conds, c.COND_READY)
        if ready is not None and ready.reason == c.CR_FAILED:
            return self.fail(cert, ready)
        if ready is None or ready.reason != c.CR_ISSUED:
            self.maybe_temporary_certificate(cert, input.secret, next_key)
            return None
        return self.issue(cert, cr, next_key)

    def fail(self, cert: Certificate, cond: Condition) -> Result | None:
        status = status_of(cert)
        now = self.clock.now()
        message = f"The certificate request has failed to complete and will be retried: {cond.message or ''}"
        status.last_failure_time = _fmt(now)
        status.failed_issuance_attempts = (status.failed_issuance_attempts or 0) + 1
        status.conditions = set_condition(
            status.conditions, c.COND_ISSUING, "False", cond.reason or c.CR_FAILED, message, now,
            cert.metadata.generation,
        )
        self.store.update_status(cert)
        self.recorder.event(cert, "Warning", cond.reason or c.CR_FAILED, message)
        return None

    def _invalid(self, cert: Certificate, message: str) -> Result | None:
        return self.fail(cert, Condition(type=c.COND_READY, status="False", reason=c.INVALID_CERTIFICATE, message=message))

    def issue(self, cert: Certificate, cr: CertificateRequest, key: PrivateKey) -> Result | None:
        chain_pem = (cr.status.certificate if cr.status else None) or b""
        try:
            certs = parse_certificates(chain_pem)
        except PKIError as e:
            return self._invalid(cert, f"Issuer returned an invalid certificate: failed to decode: {e}")
        leaf: x509.Certificate = certs[0]
        csr = decode_csr(cr.spec.request or b"")
        if not public_keys_equal(leaf.public_key(), csr.public_key()):
            return self._invalid(
                cert,
                "Issuer returned a certificate with a public key that does not match the CSR. "
                "This is a bug in the issuer.",
            )
        if leaf.not_valid_after_utc < self.clock.now():
            return self._invalid(
                cert,
                f"Issuer returned an already expired certificate (notAfter: {leaf.not_valid_after_utc}). "
                "Please check the issuer's validity period settings.",
            )
        ca_pem = (cr.status.ca if cr.status else None) or b""
        try:
            apply = build_apply(
                self.store, cert, key, chain_pem, ca_pem, cr.spec.issuer_ref,
                self.ctx.options.enable_certificate_owner_ref,
            )
        except KeystorePasswordError as e:
            # the certificate is signed; it waits for the password (a Secret event wakes us)
            return self._waiting_for_password(cert, str(e))
        apply_secret(self.store, apply)
        status = status_of(cert)
        status.revision = (status.revision or 0) + 1
        status.conditions = remove_condition(status.conditions, c.COND_ISSUING) or None
        status.failed_issuance_attempts = None
        status.last_failure_time = None
        self.store.update_status(cert)
        self.recorder.event(cert, "Normal", "Issuing", "The certificate has been successfully issued")
        return None

    def _waiting_for_password(self, cert: Certificate, problem: str) -> Result | None:
        status = status_of(cert)
        message = f"Issuing certificate is waiting: {problem}; the Secret is left as it is"
        current = condition(cert, c.COND_ISSUING)
        if current is None or current.reason != "KeystorePasswordSecretNotFound" or current.message != message:
            status.conditions = set_condition(
                status.conditions, c.COND_ISSUING, "True", "KeystorePasswordSecretNotFound", message,
                self.clock.now(), cert.metadata.generation,
            )
            self.store.update_status(cert)
            self.recorder.event(cert, "Warning", "KeystorePasswordSecretNotFound", problem)
        return None

    def maybe_temporary_certificate(self, cert: Certificate, input_secret: Secret | None, key: PrivateKey) -> None:
        """cert-manager's issue-temporary-certificate: a throw-away certificate for the next
        key, so that something that edits the Secret in place can serve TLS meanwhile."""
        if cert.annotations().get(c.ANN_ISSUE_TEMPORARY) != "true":
            return
        if input_secret is not None and input_secret.get(TLS_KEY) and input_secret.get(TLS_CERT):
            try:
                current_key = decode_private_key(input_secret.get(TLS_KEY) or b"")
                leaf = parse_certificates(input_secret.get(TLS_CERT) or b"")[0]
                if public_keys_equal(leaf.public_key(), current_key):
                    return
            except PKIError:
                pass
        encoding = cert.spec.private_key.encoding if cert.spec.private_key else None
        apply_secret(self.store, SecretApply(
            namespace=cert.namespace or "",
            name=cert.spec.secret_name or "",
            data={TLS_KEY: encode_private_key(key, encoding),
                  TLS_CERT: temporary_certificate(cert.spec, key, self.clock.now())},
            labels={c.LABEL_FAO: "true"},
            annotations={c.ANN_CERTIFICATE_NAME: cert.name},
        ))
        self.recorder.event(cert, "Normal", "Issuing", "Issued temporary certificate")

    def ensure_secret_data(self, cert: Certificate) -> None:
        """Keep secretTemplate, output formats and keystores in step without re-issuing."""
        secret = self.store.try_get(Secret, cert.namespace, cert.spec.secret_name or "")
        if secret is None or not secret.get(TLS_KEY) or not secret.get(TLS_CERT):
            return
        checked = self._in_step_key(cert, secret)
        if checked is not None and self._in_step.get((cert.namespace, cert.name)) == checked:
            return
        ann = secret.annotations()
        if ann.get(c.ANN_CERTIFICATE_NAME, cert.name) != cert.name:
            return
        try:
            key = decode_private_key(secret.get(TLS_KEY) or b"")
            chain_pem = secret.get(TLS_CERT) or b""
            leaf = parse_certificates(chain_pem)[0]
        except PKIError:
            return
        if not public_keys_equal(leaf.public_key(), key):
            return
        issuer_ref = None
        if any(k in ann for k in (c.ANN_ISSUER_NAME, c.ANN_ISSUER_KIND, c.ANN_ISSUER_GROUP)):
            issuer_ref = IssuerReference(
                name=ann.get(c.ANN_ISSUER_NAME), kind=ann.get(c.ANN_ISSUER_KIND), group=ann.get(c.ANN_ISSUER_GROUP)
            )
        try:
            apply = build_apply(
                self.store, cert, key, chain_pem, secret.get(CA_CERT), issuer_ref,
                self.ctx.options.enable_certificate_owner_ref,
            )
        except KeystorePasswordError as e:
            # nothing is lost: the Secret stays as it is until the password is there
            self.recorder.event(cert, "Warning", "KeystorePasswordSecretNotFound", str(e))
            return
        # keep the key bytes as stored: only a re-issuance changes the key's encoding
        apply.data[TLS_KEY] = secret.get(TLS_KEY) or b""
        desired = desired_secret(secret, apply)
        if not _same_ignoring_keystore_bytes(desired, secret) or not self._keystores_open(cert, secret):
            apply_secret(self.store, apply)
        elif checked is not None:
            if len(self._in_step) >= IN_STEP_KEPT:
                self._in_step.clear()
            self._in_step[(cert.namespace, cert.name)] = checked

    def _in_step_key(self, cert: Certificate, secret: Secret) -> int | None:
        """What decides whether ``secret`` is in step with ``cert``: the Secret's version,
        the spec and the owner reference. Found in step once, the same Secret and spec need
        no second look (the key decoded, the chain parsed, the Secret built again), which
        every status write of an issuance would otherwise cost. Keystores are always looked
        at: their password lives in another Secret."""
        ks = cert.spec.keystores
        if ks is not None and (ks.jks is not None or ks.pkcs12 is not None):
            return None
        if not secret.metadata.resource_version or not secret.uid:
            return None
        return hash((
            secret.uid, secret.metadata.resource_version, cert.uid, cert.name,
            cert.spec.model_dump_json(), self.ctx.options.enable_certificate_owner_ref,
        ))

    def _keystores_open(self, cert: Certificate, secret: Secret) -> bool:
        """A keystore that does not open with today's password was made with an old one."""
        for which, keys in (("pkcs12", ("keystore.p12", "truststore.p12")), ("jks", ("keystore.jks", "truststore.jks"))):
            password = keystore_password(self.store, cert, which)
            if password is None:
                continue
            for k in keys:
                data = secret.get(k)
                if data and not keystore_opens(k, data, password):
                    return False
        return True


def _decided(conds: list[Condition] | None) -> bool:
    """Whether a request's conditions give this controller something to act on: issued,
    failed, denied or invalid. Until then only a temporary certificate can be wanted, so
    the costlier checks of the request (its CSR against the spec) wait for this."""
    for ctype in (c.COND_DENIED, c.COND_INVALID_REQUEST):
        cond = get_condition(conds, ctype)
        if cond is not None and cond.status == "True":
            return True
    ready = get_condition(conds, c.COND_READY)
    return ready is not None and ready.reason in (c.CR_FAILED, c.CR_ISSUED)


def _fmt(t: dt.datetime) -> str:
    from ...api.meta import format_time

    return format_time(t)
