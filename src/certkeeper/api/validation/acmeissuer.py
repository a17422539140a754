"""ACME issuer and solver checklist (spec §1.9; validation/issuer.go ``ValidateACME*``).

Solvers are also copied into Challenges, so :func:`validate_solver` is public.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from urllib.parse import urlparse

from ..acme import (
    ACMEChallengeSolver,
    ACMEChallengeSolverDNS01,
    ACMEChallengeSolverHTTP01,
    ACMEChallengeSolverHTTP01GatewayHTTPRoute,
    ACMEChallengeSolverHTTP01Ingress,
    ACMEIssuer,
    ACMEIssuerDNS01ProviderAzureDNS,
    ACMEIssuerDNS01ProviderRFC2136,
)
from .common import (
    ca_bundle_error,
    parse_go_duration,
    validate_byte_format,
    validate_enum,
    validate_secret_key_selector,
)
from .errors import FieldError, child, forbidden, index, invalid, not_supported, required
from .names import is_dns1123_subdomain

SERVICE_TYPES = ("", "ClusterIP", "NodePort")
CNAME_STRATEGIES = ("None", "Follow")
AZURE_ENVIRONMENTS = ("AzurePublicCloud", "AzureChinaCloud", "AzureGermanCloud", "AzureUSGovernmentCloud")
AZURE_ZONE_TYPES = ("AzurePublicZone", "AzurePrivateZone")
TSIG_ALGORITHMS = ("HMACMD5", "HMACSHA1", "HMACSHA256", "HMACSHA512")
RFC2136_PROTOCOLS = ("TCP", "UDP")
RENEWAL_INFORMATION_SOURCES = ("ARI", "None")
MAX_PREFERRED_CHAIN = 64

EAB_KEY_ALGORITHM_DEPRECATED = (
    "ACME issuer spec field 'externalAccountBinding.keyAlgorithm' is deprecated. The field is no "
    "longer used and will be removed in a future release."
)
_MORE_THAN_ONE_PROVIDER = "may not specify more than one provider type"


def validate_acme_issuer(acme: ACMEIssuer, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    el += validate_byte_format(acme.ca_bundle, child(path, "caBundle"))
    if acme.ca_bundle and acme.skip_tls_verify:
        msg = "caBundle and skipTLSVerify are mutually exclusive and cannot both be set"
        el.append(invalid(child(path, "caBundle"), "", msg))
        el.append(invalid(child(path, "skipTLSVerify"), True, msg))
    if acme.ca_bundle:
        err = ca_bundle_error(acme.ca_bundle)
        if err:
            el.append(invalid(child(path, "caBundle"), "", err))
    if acme.private_key_secret_ref is None or not acme.private_key_secret_ref.name:
        el.append(
            required(
                child(path, "privateKeySecretRef", "name"), "private key secret name is a required field"
            )
        )
    if not acme.server:
        el.append(required(child(path, "server"), "acme server URL is a required field"))
    if acme.preferred_chain is not None and len(acme.preferred_chain) > MAX_PREFERRED_CHAIN:
        el.append(
            invalid(
                child(path, "preferredChain"),
                acme.preferred_chain,
                f"{child(path, 'preferredChain')} in body should be at most {MAX_PREFERRED_CHAIN} chars long",
            )
        )
    el += validate_enum(
        acme.renewal_information_source, child(path, "renewalInformationSource"), RENEWAL_INFORMATION_SOURCES
    )
    eab = acme.external_account_binding
    if eab is not None:
        ep = child(path, "externalAccountBinding")
        if not eab.key_id:
            el.append(
                required(child(ep, "keyID"), "the keyID field is required when using externalAccountBinding")
            )
        el += validate_secret_key_selector(eab.key_secret_ref, child(ep, "keySecretRef"))
    for i, solver in enumerate(acme.solvers or []):
        el += validate_solver(solver, index(child(path, "solvers"), i))
    return el


def acme_issuer_warnings(acme: ACMEIssuer) -> list[str]:
    """Admission warnings (not errors): the deprecated EAB keyAlgorithm."""
    eab = acme.external_account_binding
    return [EAB_KEY_ALGORITHM_DEPRECATED] if eab is not None and eab.key_algorithm else []


def validate_solver(sol: ACMEChallengeSolver, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    n = 0
    if sol.http01 is not None:
        n += 1
        el += _http01(sol.http01, child(path, "http01"))
    if sol.dns01 is not None:
        if n > 0:
            el.append(forbidden(path, "may not specify more than one solver type in a single solver"))
        else:
            n += 1
            el += _dns01(sol.dns01, child(path, "dns01"))
    if n == 0:
        el.append(required(path, "no solver type configured"))
    if sol.wait_instead_of_self_check is not None:
        p = child(path, "waitInsteadOfSelfCheck")
        d = parse_go_duration(sol.wait_instead_of_self_check, p, el)
        if d is not None and d < _dt.timedelta(0):
            el.append(invalid(p, d, "waitInsteadOfSelfCheck must not be negative"))
    return el


# --- HTTP-01 ------------------------------------------------------------------------------


def _http01(h: ACMEChallengeSolverHTTP01, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    n = 0
    if h.ingress is not None:
        n += 1
        el += _ingress(h.ingress, child(path, "ingress"))
    if h.gateway_http_route is not None:
        n += 1
        # cert-manager reports these under "gateway", not the JSON name; kept for identical output
        el += _gateway(h.gateway_http_route, child(path, "gateway"))
    if n == 0:
        el.append(required(path, "no HTTP01 solver type configured"))
    elif n > 1:
        el.append(required(path, "only 1 HTTP01 solver type may be configured"))
    return el


def _service_type(value: str | None, path: str) -> list[FieldError]:
    if (value or "") in SERVICE_TYPES:
        return []
    return [invalid(child(path, "serviceType"), value, 'must be empty, "ClusterIP" or "NodePort"')]


def _ingress(ing: ACMEChallengeSolverHTTP01Ingress, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    specified = sum((ing.class_ is not None, ing.ingress_class_name is not None, bool(ing.name)))
    if specified > 1:
        el.append(forbidden(path, "only one of 'ingressClassName', 'name' or 'class' should be specified"))
    if ing.ingress_class_name is not None:
        errs = is_dns1123_subdomain(ing.ingress_class_name)
        if errs:
            el.append(
                invalid(
                    child(path, "ingressClassName"),
                    ing.ingress_class_name,
                    "must be a valid IngressClass name: " + ", ".join(errs),
                )
            )
    el += _service_type(ing.service_type, path)
    return el


def _gateway(gw: ACMEChallengeSolverHTTP01GatewayHTTPRoute, path: str) -> list[FieldError]:
    el = _service_type(gw.service_type, path)
    # parentRefs may be empty (they can come from Certificate annotations); a half-filled
    # reference is refused, and only the first one is reported
    for i, ref in enumerate(gw.parent_refs or []):
        rp = index(child(path, "parentRefs"), i)
        if ref.kind is not None and not ref.name:
            el.append(required(child(rp, "name"), "name is required when kind is specified"))
            break
        if ref.name and ref.kind is None:
            el.append(required(child(rp, "kind"), "kind is required when name is specified"))
            break
    return el


# --- DNS-01 -------------------------------------------------------------------------------


def valid_nameserver(ns: str) -> str:
    """rfc2136 ``ValidNameserver``: ``host[:port]`` (IPv6 in brackets), port default 53."""
    ns = ns.strip()
    if not ns:
        raise ValueError("RFC2136 nameserver missing")
    host, port = ns, "53"
    if ns.startswith("["):
        end = ns.find("]")
        if end < 0:
            raise ValueError(f"address {ns}: missing ']' in address")
        host, rest = ns[1:end], ns[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"address {ns}: unexpected characters after ']'")
            port = rest[1:] or "53"
    elif ns.count(":") == 1:
        host, port = ns.split(":")
        port = port or "53"
    elif ns.count(":") > 1:
        raise ValueError(f"address {ns}: too many colons in address")
    if not host:
        raise ValueError(f"RFC2136 nameserver has no host defined, {ns}")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"RFC2136 nameserver has an invalid port, {ns}")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _nameserver_entry_ok(ns: str) -> bool:
    if ns.startswith("https://"):
        u = urlparse(ns)
        return bool(u.hostname)
    host, sep, port = ns.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        return False
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return "[" not in host and "]" not in host and ":" not in host


def _dns01(d: ACMEChallengeSolverDNS01, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    if d.cname_strategy and d.cname_strategy not in CNAME_STRATEGIES:
        el.append(
            invalid(child(path, "cnameStrategy"), d.cname_strategy, 'must be one of "None" or "Follow"')
        )
    for i, ns in enumerate(d.nameservers or []):
        if not _nameserver_entry_ok(ns):
            el.append(
                invalid(
                    index(child(path, "nameservers"), i), ns, "must be a host:port address or an https:// URL"
                )
            )

    n = 0
    if d.akamai is not None:  # as in cert-manager, akamai and acmeDNS skip the "more than one" check
        n += 1
        a = d.akamai
        ap = child(path, "akamai")
        # cert-manager uses the Go field names in these paths; kept for identical output
        el += validate_secret_key_selector(a.access_token_secret_ref, child(ap, "accessToken"))
        el += validate_secret_key_selector(a.client_secret_secret_ref, child(ap, "clientSecret"))
        el += validate_secret_key_selector(a.client_token_secret_ref, child(ap, "clientToken"))
        if not a.service_consumer_domain:
            el.append(required(child(ap, "serviceConsumerDomain"), ""))
    if d.azure_dns is not None:
        if n > 0:
            el.append(forbidden(child(path, "azureDNS"), _MORE_THAN_ONE_PROVIDER))
        else:
            n += 1
            el += _azure(d.azure_dns, child(path, "azureDNS"))
    if d.cloud_dns is not None:
        if n > 0:
            el.append(forbidden(child(path, "cloudDNS"), _MORE_THAN_ONE_PROVIDER))
        else:
            n += 1
            cp = child(path, "cloudDNS")
            if d.cloud_dns.service_account_secret_ref is not None:
                el += validate_secret_key_selector(
                    d.cloud_dns.service_account_secret_ref, child(cp, "serviceAccountSecretRef")
                )
            if not d.cloud_dns.project:
                el.append(required(child(cp, "project"), ""))
    if d.cloudflare is not None:
        if n > 0:
            el.append(forbidden(child(path, "cloudflare"), _MORE_THAN_ONE_PROVIDER))
        else:
            n += 1
            cf = d.cloudflare
            cp = child(path, "cloudflare")
            if cf.api_key_secret_ref is not None:
                el += validate_secret_key_selector(cf.api_key_secret_ref, child(cp, "apiKeySecretRef"))
            if cf.api_token_secret_ref is not None:
                el += validate_secret_key_selector(cf.api_token_secret_ref, child(cp, "apiTokenSecretRef"))
            if cf.api_key_secret_ref is not None and cf.api_token_secret_ref is not None:
                el.append(forbidden(cp, "apiKeySecretRef and apiTokenSecretRef cannot both be specified"))
            if cf.api_key_secret_ref is None and cf.api_token_secret_ref is None:
                el.append(required(cp, "apiKeySecretRef or apiTokenSecretRef is required"))
            if cf.api_key_secret_ref is not None and not cf.email:
                el.append(required(child(cp, "email"), ""))
    if d.route53 is not None:
        if n > 0:
            el.append(forbidden(child(path, "route53"), _MORE_THAN_ONE_PROVIDER))
        else:
            n += 1
            r = d.route53
            rp = child(path, "route53")
            # neither set means ambient credentials, which is allowed
            if r.access_key_id and r.access_key_id_secret_ref is not None:
                el.append(required(rp, "accessKeyID and accessKeyIDSecretRef cannot both be specified"))
            if r.access_key_id_secret_ref is not None:
                el += validate_secret_key_selector(
                    r.access_key_id_secret_ref, child(rp, "accessKeyIDSecretRef")
                )
    if d.acme_dns is not None:
        n += 1
        ap = child(path, "acmeDNS")
        el += validate_secret_key_selector(d.acme_dns.account_secret_ref, child(ap, "accountSecretRef"))
        if not d.acme_dns.host:
            el.append(required(child(ap, "host"), ""))
        if d.acme_dns.ca_bundle:
            el += validate_byte_format(d.acme_dns.ca_bundle, child(ap, "caBundle"))
            err = ca_bundle_error(d.acme_dns.ca_bundle)
            if err:
                el.append(invalid(child(ap, "caBundle"), "", err))
    if d.digitalocean is not None:
        if n > 0:
            el.append(forbidden(child(path, "digitalocean"), _MORE_THAN_ONE_PROVIDER))
        else:
            n += 1
            el += validate_secret_key_selector(
                d.digitalocean.token_secret_ref, child(path, "digitalocean", "tokenSecretRef")
            )
    if d.rfc2136 is not None:
        if n > 0:
            el.append(forbidden(child(path, "rfc2136"), _MORE_THAN_ONE_PROVIDER))
        else:
            n += 1
            el += _rfc2136(d.rfc2136, child(path, "rfc2136"))
    if d.webhook is not None:
        if n > 0:
            el.append(forbidden(child(path, "webhook"), _MORE_THAN_ONE_PROVIDER))
        else:
            n += 1
            if not d.webhook.solver_name:
                el.append(required(child(path, "webhook", "solverName"), "solver name must be specified"))
    if n == 0:
        el.append(required(path, "no DNS01 provider configured"))
    return el


def _azure(az: ACMEIssuerDNS01ProviderAzureDNS, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    mi = az.managed_identity
    if az.client_id or az.tenant_id or az.client_secret_secret_ref is not None:
        if not az.client_id:
            el.append(required(child(path, "clientID"), ""))
        if az.client_secret_secret_ref is None:
            el.append(required(child(path, "clientSecretSecretRef"), ""))
        else:
            el += validate_secret_key_selector(
                az.client_secret_secret_ref, child(path, "clientSecretSecretRef")
            )
        if not az.tenant_id:
            el.append(required(child(path, "tenantID"), ""))
        if mi is not None:
            el.append(
                forbidden(
                    child(path, "managedIdentity"),
                    "managed identity cannot be used at the same time as clientID, clientSecretSecretRef or tenantID",
                )
            )
    elif mi is not None:
        mp = child(path, "managedIdentity")
        if mi.client_id and mi.resource_id:
            el.append(
                forbidden(
                    mp, "managedIdentityClientID and managedIdentityResourceID cannot both be specified"
                )
            )
        if mi.tenant_id and mi.resource_id:
            el.append(
                forbidden(
                    mp, "managedIdentityTenantID and managedIdentityResourceID cannot both be specified"
                )
            )
        if mi.tenant_id and not mi.client_id:
            el.append(required(mp, "managedIdentityClientID is required when using managedIdentityTenantID"))
    if not az.subscription_id:
        el.append(required(child(path, "subscriptionID"), ""))
    if not az.resource_group_name:
        el.append(required(child(path, "resourceGroupName"), ""))
    if az.environment and az.environment not in AZURE_ENVIRONMENTS:
        el.append(
            invalid(
                child(path, "environment"),
                az.environment,
                "must be either empty or one of AzurePublicCloud, AzureChinaCloud, AzureGermanCloud, or AzureUSGovernmentCloud",
            )
        )
    el += validate_enum(az.zone_type, child(path, "zoneType"), AZURE_ZONE_TYPES)
    return el


def _rfc2136(r: ACMEIssuerDNS01ProviderRFC2136, path: str) -> list[FieldError]:
    el: list[FieldError] = []
    if not r.nameserver:
        el.append(required(child(path, "nameserver"), ""))
    else:
        try:
            valid_nameserver(r.nameserver)
        except ValueError:
            el.append(
                invalid(
                    child(path, "nameserver"),
                    r.nameserver,
                    "nameserver must be set in the form host:port where host is an IPv4 address, an enclosed "
                    "IPv6 address or a hostname and port is an optional port number.",
                )
            )
    if r.tsig_algorithm and r.tsig_algorithm.upper() not in TSIG_ALGORITHMS:
        el.append(not_supported(child(path, "tsigAlgorithm"), "", TSIG_ALGORITHMS))
    secret_path = child(path, "tsigSecretSecretRef")
    secret_errs = validate_secret_key_selector(r.tsig_secret_secret_ref, secret_path)
    if r.tsig_key_name:
        el += secret_errs
    if not secret_errs and not r.tsig_key_name:
        el.append(required(child(path, "tsigKeyName"), ""))
    el += validate_enum(r.protocol, child(path, "protocol"), RFC2136_PROTOCOLS)
    return el
