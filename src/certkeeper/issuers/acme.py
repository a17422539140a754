"""ACME: the issuer's account (set-up, §4.1) and requests signed through Orders (§3.5).

Set-up registers the account once and remembers the result in ``status.acme`` so that
later syncs (and restarts) need no request to the server. Signing only creates and reads
the Order; the Order and Challenge controllers talk to the server.
"""

from __future__ import annotations

import datetime as dt
import threading
import urllib.parse
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pydantic import BaseModel

from ..acme.ari import cert_id
from ..acme.errors import AcmeError, AcmeNetworkError, AcmeRetryableError, AcmeTerminalError
from ..api import constants as c
from ..api.acme import ORDER_VALID, ACMEIssuerStatus, Order, OrderSpec, is_failure_state
from ..api.certificate import Certificate, CertificateRequest
from ..api.common import SecretKeySelector
from ..api.core import TLS_CERT, Secret
from ..api.issuer import Issuer
from ..api.meta import get_condition
from ..controllers.acme import accounts
from ..controllers.acme.names import compute_name
from ..pki.chain import parse_certificates
from ..pki.csr import decode_csr
from ..pki.errors import PKIError
from ..pki.keys import public_keys_equal
from ..runtime.controller import Context
from ..store.base import AlreadyExists
from .base import Failed, Issued, IssuerReadiness, Pending, SignOutcome, resource_namespace

LETSENCRYPT_V1 = {
    "https://acme-v01.api.letsencrypt.org/directory": "https://acme-v02.api.letsencrypt.org/directory",
    "https://acme-staging.api.letsencrypt.org/directory": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
REASON_REGISTERED = "ACMEAccountRegistered"
MESSAGE_REGISTERED = "The ACME account was registered with the ACME server"
ERR_REGISTER = "ErrRegisterACMEAccount"
ERR_VERIFY = "ErrVerifyACMEAccount"
RETRY_FIRST = 0.5
RETRY_MAX = 300.0
_BACKOFF_KEY = "acme-setup-backoff"


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc.lower()


def _backoff(ctx: Context) -> dict[str, float]:
    table = ctx.services.setdefault(_BACKOFF_KEY, {})
    assert isinstance(table, dict)
    return table


def _retry(ctx: Context, issuer: Issuer) -> dt.timedelta:
    """Growing delay per issuer (0.5 s doubling to 5 min): a server that is down is asked
    again soon, but not in a loop."""
    table = _backoff(ctx)
    delay = table.get(issuer.uid, RETRY_FIRST)
    table[issuer.uid] = min(delay * 2, RETRY_MAX)
    return dt.timedelta(seconds=delay)


def _secret_refs(node: Any) -> list[SecretKeySelector]:
    """Every SecretKeySelector inside a solver's provider block."""
    if isinstance(node, SecretKeySelector):
        return [node]
    out: list[SecretKeySelector] = []
    if isinstance(node, BaseModel):
        for field in type(node).model_fields:
            out += _secret_refs(getattr(node, field))
    return out


def generate_account_key() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return key, pem


def forget_account(ctx: Context, issuer: Issuer) -> None:
    """The server no longer knows the account (it lost its state): drop the client and the
    stored URI so that the issuer controller registers again."""
    accounts.registry(ctx).remove(issuer.uid)
    fresh = ctx.store.try_get(type(issuer), issuer.namespace, issuer.name)
    if fresh is None or fresh.status is None or fresh.status.acme is None or not fresh.status.acme.uri:
        return
    fresh.status.acme = ACMEIssuerStatus()
    ctx.store.update_status(fresh)


class ACMESigner:
    issuer_type = "acme"

    def __init__(self) -> None:
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ set-up

    def setup(self, ctx: Context, issuer: Issuer) -> IssuerReadiness:
        acme = issuer.spec.acme
        assert acme is not None
        server = acme.server or ""
        if server in LETSENCRYPT_V1:
            return IssuerReadiness(
                False, "InvalidConfig",
                f"Your ACME server URL is set to a v1 endpoint ({server}). You should update the "
                f'spec.acme.server field to "{LETSENCRYPT_V1[server]}"',
            )
        parts = urllib.parse.urlsplit(server)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            return IssuerReadiness(
                False, "InvalidURL",
                f'Failed to parse existing ACME server URI "{server}": the server must be an absolute '
                "https:// URL of the ACME directory",
            )
        status = issuer.status.acme if issuer.status and issuer.status.acme else ACMEIssuerStatus()
        name, _ = accounts.key_secret_ref(issuer)
        try:
            key = accounts.load_account_key(ctx, issuer)
        except accounts.AccountKeyError as e:
            return IssuerReadiness(False, ERR_VERIFY, str(e))
        if key is None:
            if acme.disable_account_key_generation:
                return IssuerReadiness(
                    False, ERR_VERIFY,
                    "the ACME issuer config has 'disableAccountKeyGeneration' set to true, but the secret "
                    f'was not found: secret "{resource_namespace(ctx, issuer)}/{name}" not found',
                    requeue_after=_retry(ctx, issuer),
                )
            key = self._create_key_secret(ctx, issuer)
            status = ACMEIssuerStatus()
        problems = self._solver_secret_problems(ctx, issuer)
        if problems:
            return IssuerReadiness(False, "InvalidSolver", ", ".join(problems))
        key_hash = accounts.private_key_hash(key)
        email = acme.email or ""
        fingerprint = accounts.fingerprint(issuer, key_hash)
        ready = get_condition(issuer.status.conditions if issuer.status else None, c.COND_READY)
        if (
            ready is not None and ready.status == "True" and status.uri and _host(status.uri) == _host(server)
            and (status.last_registered_email or "") == email and status.last_private_key_hash == key_hash
        ):
            registry = accounts.registry(ctx)
            if registry.get(issuer.uid, fingerprint) is None:
                client = accounts.new_client(issuer, key)
                client.use_account(status.uri)
                registry.put(issuer.uid, client, fingerprint)
            _backoff(ctx).pop(issuer.uid, None)
            return IssuerReadiness(True, REASON_REGISTERED, MESSAGE_REGISTERED, acme_status=status)
        return self._register(ctx, issuer, key, key_hash, fingerprint)

    def _create_key_secret(self, ctx: Context, issuer: Issuer) -> rsa.RSAPrivateKey:
        name, data_key = accounts.key_secret_ref(issuer)
        key, pem = generate_account_key()
        secret = Secret.new(name, resource_namespace(ctx, issuer))
        secret.metadata.labels = {c.LABEL_MANAGED_BY: "cert-manager"}
        secret.set(data_key, pem)
        try:
            ctx.store.create(secret)
        except AlreadyExists:
            # another sync created it first: use that one
            loaded = accounts.load_account_key(ctx, issuer)
            if loaded is None:
                raise
            return loaded
        return key

    def _solver_secret_problems(self, ctx: Context, issuer: Issuer) -> list[str]:
        acme = issuer.spec.acme
        assert acme is not None
        ns = resource_namespace(ctx, issuer)
        problems = []
        for solver in acme.solvers or []:
            if solver.dns01 is None:
                continue
            for ref in _secret_refs(solver.dns01):
                if not ref.name:
                    continue
                secret = ctx.store.try_get(Secret, ns, ref.name)
                if secret is None:
                    problems.append(f'secret "{ns}/{ref.name}" not found')
                elif ref.key and secret.get(ref.key) is None:
                    problems.append(f'secret "{ns}/{ref.name}" has no key "{ref.key}"')
        return problems

    def _eab(self, ctx: Context, issuer: Issuer) -> tuple[str, str] | None:
        acme = issuer.spec.acme
        assert acme is not None
        eab = acme.external_account_binding
        if eab is None:
            return None
        ref = eab.key_secret_ref
        ns = resource_namespace(ctx, issuer)
        secret = ctx.store.try_get(Secret, ns, ref.name if ref and ref.name else "")
        if secret is None:
            raise ValueError(
                f'failed to read external account binding secret: secret "{ns}/{ref.name if ref else ""}" not found'
            )
        value = secret.get(ref.key if ref and ref.key else "")
        if not value:
            raise ValueError(
                f'failed to read external account binding secret: secret "{ns}/{ref.name if ref else ""}" '
                f'has no key "{ref.key if ref else ""}"'
            )
        return eab.key_id or "", value.decode().strip()

    def _register(
        self, ctx: Context, issuer: Issuer, key: rsa.RSAPrivateKey, key_hash: str, fingerprint: tuple[str, ...]
    ) -> IssuerReadiness:
        acme = issuer.spec.acme
        assert acme is not None
        email = acme.email or ""
        try:
            eab = self._eab(ctx, issuer)
        except ValueError as e:
            return IssuerReadiness(False, ERR_REGISTER, f"Failed to register ACME account: {e}")
        client = accounts.new_client(issuer, key)
        try:
            uri = client.register(email or None, eab)
        except ValueError as e:  # an EAB key that is not base64url
            client.close()
            return IssuerReadiness(
                False, ERR_REGISTER,
                f"Failed to register ACME account: external account binding key is not valid base64url: {e}",
            )
        except AcmeTerminalError as e:
            client.close()
            return IssuerReadiness(False, ERR_REGISTER, f"Failed to register ACME account: {e}")
        except AcmeNetworkError as e:
            client.close()
            return IssuerReadiness(
                False, ERR_REGISTER,
                f"Failed to register ACME account: cannot reach the ACME server at {acme.server}: {e}",
                requeue_after=_retry(ctx, issuer),
            )
        except (AcmeRetryableError, AcmeError) as e:
            client.close()
            return IssuerReadiness(
                False, ERR_REGISTER, f"Failed to register ACME account: {e}", requeue_after=_retry(ctx, issuer),
            )
        accounts.registry(ctx).put(issuer.uid, client, fingerprint)
        _backoff(ctx).pop(issuer.uid, None)
        status = ACMEIssuerStatus(uri=uri, last_registered_email=email or None, last_private_key_hash=key_hash)
        return IssuerReadiness(True, REASON_REGISTERED, MESSAGE_REGISTERED, acme_status=status)

    # ------------------------------------------------------------------ signing

    def sign(self, ctx: Context, cr: CertificateRequest, issuer: Issuer) -> SignOutcome:
        acme = issuer.spec.acme
        assert acme is not None
        try:
            csr = decode_csr(cr.spec.request or b"")
        except PKIError as e:
            return Failed("RequestParsingError", f"Failed to decode CSR in spec.request: {e}")
        spec = order_spec(cr, csr, enable_duration=bool(acme.enable_duration_feature), profile=acme.profile)
        if (acme.renewal_information_source or "ARI") != "None":
            spec.replaces = replaced_cert_id(ctx, cr)
        common_name = spec.common_name
        dns_names = spec.dns_names or []
        ips = spec.ip_addresses or []
        if common_name and common_name not in dns_names and common_name not in ips:
            return Failed(
                "InvalidOrder",
                "The CSR PEM requests a commonName that is not present in the list of dnsNames or "
                "ipAddresses. If a commonName is set, ACME requires that the value is also present in "
                f'the list of dnsNames or ipAddresses: "{common_name}" does not exist in {dns_names} or {ips}',
            )
        name = order_name(cr.name, spec)
        ns = cr.namespace
        order = ctx.store.try_get(Order, ns, name)
        if order is None:
            order = Order.new(name, ns, spec=spec)
            order.metadata.labels = dict(cr.labels()) or None
            order.metadata.annotations = dict(cr.annotations()) or None
            order.metadata.owner_references = [cr.as_owner()]
            ctx.store.create(order)
            return Pending("OrderCreated", f"Created Order resource {ns}/{name}")
        if not order.is_controlled_by(cr):
            raise RuntimeError(f'Order "{ns}/{name}" exists but is not owned by this CertificateRequest')
        st = order.status
        state = (st.state if st else None) or ""
        if is_failure_state(state):
            return Failed(
                "OrderFailed",
                f'Failed to wait for order resource "{name}" to become ready: order is in "{state}" state: '
                f"{(st.reason if st else None) or ''}",
            )
        if state != ORDER_VALID or st is None or not st.certificate:
            return Pending("OrderPending", f'Waiting on certificate issuance from order {ns}/{name}: "{state}"')
        try:
            leaf = parse_certificates(st.certificate)[0]
            matches = public_keys_equal(leaf.public_key(), csr.public_key())
        except PKIError:
            matches = False
        if not matches:
            # the Order's certificate is not for this request's key: start over
            ctx.store.delete(Order, ns, name)
            return Pending("OrderPending", f"Deleted Order resource {ns}/{name} whose certificate did not match")
        return Issued(st.certificate, b"")


def order_spec(
    cr: CertificateRequest, csr: x509.CertificateSigningRequest, *, enable_duration: bool, profile: str | None
) -> OrderSpec:
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(cns[0].value) if cns else ""
    dns_names: list[str] = []
    ips: list[str] = []
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = list(san.get_values_for_type(x509.DNSName))
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    return OrderSpec(
        request=cr.spec.request,
        issuer_ref=cr.spec.issuer_ref,
        common_name=common_name or None,
        dns_names=dns_names or None,
        ip_addresses=ips or None,
        duration=cr.spec.duration if enable_duration else None,
        profile=profile or None,
    )


def order_name(cr_name: str, spec: OrderSpec) -> str:
    """The name hashes the spec without the CSR, so re-signing a request finds its Order;
    nor ``replaces``, which renewal information fetched meanwhile may change."""
    data = spec.model_copy(update={"request": None, "replaces": None}).to_dict()
    return compute_name(cr_name, data)


def replaced_cert_id(ctx: Context, cr: CertificateRequest) -> str | None:
    """The ARI CertID of the certificate this request renews (RFC 9773 ``replaces``): the
    one in the Certificate's Secret, when the server gave renewal information for it."""
    name = cr.annotations().get(c.ANN_CERTIFICATE_NAME)
    cert = ctx.store.try_get(Certificate, cr.namespace, name) if name else None
    acme = cert.status.acme if cert is not None and cert.status else None
    if cert is None or acme is None or acme.ari is None or not acme.ari.cert_id:
        return None
    secret = ctx.store.try_get(Secret, cr.namespace, cert.spec.secret_name or "")
    try:
        leaf = parse_certificates(secret.get(TLS_CERT) or b"")[0] if secret is not None else None
        current = cert_id(leaf) if leaf is not None else None
    except (PKIError, ValueError, IndexError):
        return None
    return current if current == acme.ari.cert_id else None
