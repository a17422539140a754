"""Admission rules, one test (or more) per checklist item of spec §1.5, §1.7, §1.9, §1.10.

Each test builds the object a user would write, runs :func:`validate` and compares the
exact lines kubectl would print, so a change of wording is caught as well as a change
of behaviour.
"""

from __future__ import annotations

import base64
import datetime as _dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certkeeper.api.acme import Challenge, Order
from certkeeper.api.certificate import Certificate, CertificateRequest, CertificateRequestStatus
from certkeeper.api.core import Namespace, Secret
from certkeeper.api.issuer import ClusterIssuer, Issuer
from certkeeper.api.meta import Condition
from certkeeper.api.validation import validate, validate_update, warnings
from certkeeper.pki.durations import parse_duration

# --- helpers --------------------------------------------------------------------------------


def _without_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def cert(**spec: Any) -> Certificate:
    """A valid Certificate with ``spec`` overrides (None removes a field)."""
    base: dict[str, Any] = {"secretName": "tls", "issuerRef": {"name": "ca"}, "dnsNames": ["example.com"]}
    base.update(spec)
    return Certificate.model_validate(
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": "c", "namespace": "default"},
            "spec": _without_none(base),
        }
    )


def errors(obj: Any) -> list[str]:
    return [str(e) for e in validate(obj)]


def issuer(spec: dict[str, Any], cls: type[Issuer] = Issuer) -> Issuer:
    meta: dict[str, Any] = {"name": "iss"}
    if cls is Issuer:
        meta["namespace"] = "default"
    return cls.model_validate(
        {"apiVersion": "cert-manager.io/v1", "kind": cls.KIND, "metadata": meta, "spec": spec}
    )


def acme(**fields: Any) -> Issuer:
    base: dict[str, Any] = {
        "server": "https://acme.example/directory",
        "privateKeySecretRef": {"name": "account"},
        "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
    }
    base.update(fields)
    return issuer({"acme": _without_none(base)})


def solver(sol: dict[str, Any]) -> list[str]:
    return errors(acme(solvers=[sol]))


def dns01(provider: dict[str, Any]) -> list[str]:
    return solver({"dns01": provider})


REF = {"name": "s", "key": "k"}


# --- metadata (all kinds) -----------------------------------------------------------------


def test_metadata_name_required_unless_generate_name() -> None:
    c = cert()
    c.metadata.name = None
    assert errors(c) == ["metadata.name: Required value: name or generateName is required"]
    c.metadata.generate_name = "c-"
    assert errors(c) == []


def test_metadata_name_must_be_dns_subdomain_and_namespace_a_label() -> None:
    c = cert()
    c.metadata.name = "My_Cert"
    c.metadata.namespace = "a.b"
    assert errors(c) == [
        'metadata.name: Invalid value: "My_Cert": a lowercase RFC 1123 subdomain must consist of lower case '
        "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        'metadata.namespace: Invalid value: "a.b": a lowercase RFC 1123 label must consist of lower case '
        "alphanumeric characters or '-', and must start and end with an alphanumeric character "
        "(e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    ]


def test_metadata_long_name_and_bad_label() -> None:
    c = cert()
    c.metadata.name = "a" * 254
    c.metadata.labels = {"app": "-bad-"}
    out = errors(c)
    assert out[0] == f'metadata.name: Invalid value: "{"a" * 254}": must be no more than 253 characters'
    assert out[1].startswith('metadata.labels: Invalid value: "-bad-": a valid label must be an empty string')


def test_secret_and_namespace_get_metadata_checks_only() -> None:
    s = Secret.new("tls", "default", type="kubernetes.io/tls")
    s.set("tls.crt", b"")
    assert errors(s) == ["data[tls.key]: Required value"]
    s.set("tls.key", b"")
    assert errors(s) == []
    assert errors(Secret.new("Bad", "default")) == [
        'metadata.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain must consist of lower case '
        "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    ]
    assert errors(Namespace.new("sandbox")) == []
    # a Namespace name is a DNS-1123 label, not a subdomain
    assert errors(Namespace.new("a.b")) == [
        'metadata.name: Invalid value: "a.b": a lowercase RFC 1123 label must consist of lower case '
        "alphanumeric characters or '-', and must start and end with an alphanumeric character "
        "(e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    ]


# --- §1.5 Certificate -------------------------------------------------------------------------


def test_valid_certificate_has_no_errors() -> None:
    assert errors(cert()) == []


def test_rule1_secret_name_required_and_subdomain() -> None:
    assert errors(cert(secretName=None)) == ["spec.secretName: Required value: must be specified"]
    assert errors(cert(secretName="TLS"))[0].startswith(
        'spec.secretName: Invalid value: "TLS": a lowercase RFC 1123 subdomain'
    )


def test_rule2_issuer_ref() -> None:
    assert errors(cert(issuerRef=None)) == ["spec.issuerRef.name: Required value: must be specified"]
    assert errors(cert(issuerRef={"name": "x", "kind": "AWSPCAClusterIssuer"})) == [
        'spec.issuerRef.kind: Invalid value: "AWSPCAClusterIssuer": must be one of Issuer or ClusterIssuer '
        "(did you forget to set spec.issuerRef.kind.group?)"
    ]
    assert errors(cert(issuerRef={"name": "x", "kind": "Foo", "group": "cert-manager.io"})) == [
        'spec.issuerRef.kind: Invalid value: "Foo": must be one of Issuer or ClusterIssuer'
    ]
    assert (
        errors(
            cert(issuerRef={"name": "x", "kind": "AWSPCAClusterIssuer", "group": "awspca.cert-manager.io"})
        )
        == []
    )
    assert errors(cert(issuerRef={"name": "x", "kind": "ClusterIssuer"})) == []


def test_rule3_literal_subject() -> None:
    ok = cert(dnsNames=None, literalSubject="C=US,O=myOrg,CN=someName")
    assert errors(ok) == []  # the CN inside literalSubject satisfies rule 4
    assert errors(cert(literalSubject="CN=a", commonName="b")) == [
        'spec.commonName: Invalid value: "b": When providing a `LiteralSubject` no `commonName` may be provided.'
    ]
    assert errors(cert(literalSubject="CN=a", subject={"organizations": ["o"]})) == [
        'spec.subject: Invalid value: {"organizations":["o"]}: '
        "When providing a `LiteralSubject` no `Subject` properties may be provided."
    ]
    assert errors(cert(literalSubject="FOO=bar,CN=a")) == [
        'spec.literalSubject: Invalid value: "FOO=bar,CN=a": Literal subject contains unrecognized key with value [FOO]'
    ]


def test_rule4_at_least_one_name() -> None:
    assert errors(cert(dnsNames=None)) == [
        'spec: Invalid value: "": at least one of commonName (from the commonName field or from a '
        "literalSubject), dnsNames, emailSANs, ipAddresses, otherNames, or uriSANs must be set"
    ]
    for field, value in (
        ("commonName", "x"),
        ("uris", ["spiffe://a/b"]),
        ("emailAddresses", ["a@b.c"]),
        ("ipAddresses", ["10.0.0.1"]),
        ("otherNames", [{"oid": "1.3.6.1.4.1.311.20.2.3", "utf8Value": "u@x"}]),
    ):
        assert errors(cert(dnsNames=None, **{field: value})) == [], field


def test_rule5_common_name_length() -> None:
    assert errors(cert(commonName="a" * 64)) == []
    assert errors(cert(commonName="a" * 65)) == ["spec.commonName: Too long: may not be more than 64 bytes"]
    assert errors(cert(literalSubject="CN=" + "b" * 65)) == [
        "spec.commonName: Too long: may not be more than 64 bytes"
    ]


def test_rule6_ip_and_email_addresses() -> None:
    assert errors(cert(ipAddresses=["192.168.0.5", "::1", "300.1.1.1"])) == [
        'spec.ipAddresses[2]: Invalid value: "300.1.1.1": invalid IP address'
    ]
    assert errors(cert(emailAddresses=["john.doe@cert-manager.io", "John <j@x.io>", "nobody"])) == [
        'spec.emailAddresses[1]: Invalid value: "John <j@x.io>": invalid email address: '
        "make sure the supplied value only contains the email address itself",
        'spec.emailAddresses[2]: Invalid value: "nobody": invalid email address: mail: missing @ in addr-spec',
    ]


def test_rule7_other_names() -> None:
    assert errors(
        cert(otherNames=[{"utf8Value": "x"}, {"oid": "1.2.x", "utf8Value": "y"}, {"oid": "1.2.3"}])
    ) == [
        "spec.otherNames[0].oid: Required value: must be specified",
        'spec.otherNames[0].oid: Invalid value: "": invalid oid syntax',
        'spec.otherNames[1].oid: Invalid value: "1.2.x": invalid oid syntax',
        "spec.otherNames[2].utf8Value: Required value: must be set to a valid non-empty UTF8 string",
    ]


def test_rule8_private_key() -> None:
    assert errors(cert(privateKey={"algorithm": "RSA", "size": 1024})) == [
        "spec.privateKey.size: Invalid value: 1024: must be between 2048 and 8192 for rsa keyAlgorithm"
    ]
    assert errors(cert(privateKey={"size": 3000})) == []  # any RSA size in range is accepted
    assert errors(cert(privateKey={"algorithm": "ECDSA", "size": 300})) == [
        'spec.privateKey.size: Unsupported value: 300: supported values: "256", "384", "521"'
    ]
    assert errors(cert(privateKey={"algorithm": "Ed25519", "size": 1})) == []
    assert errors(cert(privateKey={"algorithm": "DSA"})) == [
        'spec.privateKey.algorithm: Invalid value: "DSA": must be either empty or one of rsa, ecdsa or ed25519'
    ]
    assert errors(cert(privateKey={"encoding": "PEM", "rotationPolicy": "Sometimes"})) == [
        'spec.privateKey.encoding: Unsupported value: "PEM": supported values: "PKCS1", "PKCS8"',
        'spec.privateKey.rotationPolicy: Unsupported value: "Sometimes": supported values: "Never", "Always"',
    ]


def test_rule9_signature_algorithm_fits_key() -> None:
    assert errors(cert(signatureAlgorithm="SHA384WithRSA")) == []
    assert errors(cert(signatureAlgorithm="ECDSAWithSHA256")) == [
        'spec.signatureAlgorithm: Invalid value: "ECDSAWithSHA256": for key algorithm RSA the allowed '
        "signature algorithms are [SHA256WithRSA SHA384WithRSA SHA512WithRSA]"
    ]
    assert errors(cert(privateKey={"algorithm": "ECDSA"}, signatureAlgorithm="ECDSAWithSHA512")) == []
    assert errors(cert(privateKey={"algorithm": "Ed25519"}, signatureAlgorithm="SHA256WithRSA")) == [
        'spec.signatureAlgorithm: Invalid value: "SHA256WithRSA": for key algorithm Ed25519 the allowed '
        "signature algorithms are [PureEd25519]"
    ]


def test_rule10_durations() -> None:
    assert parse_duration("2160h") == _dt.timedelta(days=90)
    assert errors(cert(duration="2160h", renewBefore="360h")) == []
    assert errors(cert(duration="30m")) == [
        "spec.duration: Invalid value: 30m0s: certificate duration must be greater than 1h0m0s"
    ]
    assert errors(cert(renewBefore="1m")) == [
        "spec.renewBefore: Invalid value: 1m0s: certificate renewBefore must be greater than 5m0s"
    ]
    assert errors(cert(duration="1h", renewBefore="2h")) == [
        "spec.renewBefore: Invalid value: 2h0m0s: certificate duration 1h0m0s must be greater than renewBefore 2h0m0s"
    ]
    assert errors(cert(renewBefore="1h", renewBeforePercentage=50)) == [
        "spec.renewBefore: Invalid value: 1h0m0s: renewBefore and renewBeforePercentage are mutually "
        "exclusive and cannot both be set",
        "spec.renewBeforePercentage: Invalid value: 50: renewBefore and renewBeforePercentage are "
        "mutually exclusive and cannot both be set",
    ]
    # duration 1h, 95%: the validator computes 1h*(100-95)/100 = 3m, below the 5m minimum
    assert errors(cert(duration="1h", renewBeforePercentage=95)) == [
        "spec.renewBeforePercentage: Invalid value: 95: certificate renewBeforePercentage must result in "
        "a renewBefore greater than 5m0s"
    ]
    # a percentage set alone is checked against the default duration (2160h), as current
    # cert-manager does: only 1..99 can pass
    assert errors(cert(renewBeforePercentage=95)) == []
    assert errors(cert(renewBeforePercentage=1)) == []
    assert errors(cert(renewBeforePercentage=99)) == []
    for pct in (100, 150):
        assert errors(cert(renewBeforePercentage=pct)) == [
            f"spec.renewBeforePercentage: Invalid value: {pct}: certificate renewBeforePercentage must result "
            "in a renewBefore greater than 5m0s"
        ]
    for pct in (0, -5):
        assert errors(cert(renewBeforePercentage=pct)) == [
            f"spec.renewBeforePercentage: Invalid value: {pct}: certificate renewBeforePercentage must result "
            "in a renewBefore less than duration"
        ]
    bad = errors(cert(duration="90d"))
    assert len(bad) == 1 and bad[0].startswith('spec.duration: Invalid value: "90d": time: ')


def test_rule11_usages() -> None:
    assert errors(cert(usages=["signing", "server auth", "s/mime", "ipsec user"])) == []
    assert errors(cert(usages=["server auth", "serverAuth"])) == [
        'spec.usages[1]: Invalid value: "serverAuth": unknown keyusage'
    ]


def test_rule12_revision_history_limit() -> None:
    assert errors(cert(revisionHistoryLimit=1)) == []
    assert errors(cert(revisionHistoryLimit=0)) == [
        "spec.revisionHistoryLimit: Invalid value: 0: must not be less than 1"
    ]


def test_rule13_secret_template() -> None:
    ok = cert(secretTemplate={"annotations": {"cert-manager.io/allow-direct-injection": "true", "a/b": "x"}})
    assert errors(ok) == []
    assert errors(cert(secretTemplate={"annotations": {"cert-manager.io/issuer-name": "x"}})) == [
        'spec.secretTemplate.annotations: Invalid value: "cert-manager.io/issuer-name": '
        "cert-manager.io/* annotations are not allowed"
    ]
    out = errors(cert(secretTemplate={"labels": {"a b": "v"}}))
    assert out[0].startswith('spec.secretTemplate.labels: Invalid value: "a b": name part must consist of')


def test_rule14_name_constraints() -> None:
    nc = {"permitted": {"dnsDomains": ["example.com"], "ipRanges": ["10.0.0.0/16"]}}
    assert errors(cert(isCA=True, nameConstraints=nc)) == []
    assert errors(cert(nameConstraints=nc)) == [
        'spec.nameConstraints: Invalid value: {"permitted":{"dnsDomains":["example.com"],"ipRanges":["10.0.0.0/16"]}}: '
        "isCa should be true when nameConstraints is set"
    ]
    assert errors(cert(isCA=True, nameConstraints={"critical": True})) == [
        'spec.nameConstraints: Invalid value: {"critical":true}: either permitted or excluded must be set'
    ]
    assert errors(cert(isCA=True, nameConstraints={"excluded": {"ipRanges": ["10.0.0.1"]}})) == [
        'spec.nameConstraints.excluded.ipRanges[0]: Invalid value: "10.0.0.1": '
        "must be a valid CIDR: invalid CIDR address: 10.0.0.1"
    ]


def test_rule15_additional_output_formats_unique() -> None:
    assert errors(cert(additionalOutputFormats=[{"type": "DER"}, {"type": "CombinedPEM"}])) == []
    assert errors(cert(additionalOutputFormats=[{"type": "DER"}, {"type": "DER"}])) == [
        'spec.additionalOutputFormats[1].type: Duplicate value: "DER"'
    ]


def test_rule16_keystore_passwords() -> None:
    ref = {"name": "pw", "key": "password"}
    assert errors(cert(keystores={"jks": {"create": True, "password": "abc123"}})) == []
    assert (
        errors(
            cert(keystores={"pkcs12": {"create": True, "passwordSecretRef": ref, "profile": "Modern2026"}})
        )
        == []
    )
    assert errors(cert(keystores={"jks": {"create": True, "password": "x", "passwordSecretRef": ref}})) == [
        "spec.keystores.jks: Forbidden: exactly one of passwordSecretRef and password must be provided for "
        "JKS keystores; cannot set both"
    ]
    assert errors(cert(keystores={"pkcs12": {"create": True}})) == [
        "spec.keystores.pkcs12: Forbidden: must set exactly one of passwordSecretRef and password must for "
        "PKCS#12 keystores"
    ]
    assert errors(cert(keystores={"pkcs12": {"create": True, "password": ""}})) == [
        "spec.keystores.pkcs12.password: Forbidden: literal password cannot be empty if set on PKCS#12 keystores"
    ]


def test_rule17_renewal() -> None:
    window = {"cron": "0 2 * * 1-5", "timezone": "America/Denver", "windowDuration": "2h"}
    assert errors(cert(renewal={"policy": "RenewBefore", "windows": [window]})) == []
    assert errors(cert(renewal={"policy": "Disabled"})) == []
    assert errors(cert(renewal={"windows": [window]})) == [
        'spec.renewal.policy: Unsupported value: "unsupported field ": supported values: "Disabled", "RenewBefore"'
    ]
    assert errors(cert(renewal={"policy": "Disabled", "windows": [window]})) == [
        "spec.renewal.windows: Forbidden: windows cannot be set when `renewal.policy` is set to Disabled"
    ]
    bad = {"cron": "0 25 * * *", "timezone": "Mars/Olympus"}
    assert errors(cert(renewal={"policy": "RenewBefore", "windows": [bad]})) == [
        "spec.renewal.windows[0].windowDuration: Required value: windowDuration must be specified and should "
        "be greater than 0",
        'spec.renewal.windows[0].timezone: Invalid value: "Mars/Olympus": invalid value for timezone. '
        "timezone must be IANA compliant",
        'spec.renewal.windows[0].cron: Invalid value: "0 25 * * *": invalid cron syntax: end of range (25) above '
        "maximum (23): 25. cron needs to follow: cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow",
    ]
    no_cron = errors(cert(renewal={"policy": "RenewBefore", "windows": [{"windowDuration": "1h"}]}))
    assert no_cron == [
        'spec.renewal.windows[0].cron: Invalid value: "": invalid cron syntax: empty spec string. '
        "cron needs to follow: cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow"
    ]
    out = errors(
        cert(renewal={"policy": "RenewBefore", "windows": [{"cron": "@daily", "windowDuration": "1d"}]})
    )
    assert out == [
        'spec.renewal.windows[0].windowDuration: Invalid value: "1d": spec.renewal.windows[0].windowDuration '
        "in body should match '^([0-9]+(\\.[0-9]+)?(s|m|h))+$'"
    ]


# --- §1.7 CertificateRequest --------------------------------------------------------------------

_KEY = ec.generate_private_key(ec.SECP256R1())


def csr_b64(
    ku: x509.KeyUsage | None = None,
    eku: list[x509.ObjectIdentifier] | None = None,
    ca: bool | None = None,
    tamper: bool = False,
) -> str:
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com")])
    )
    if ku is not None:
        b = b.add_extension(ku, critical=True)
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    csr = b.sign(_KEY, hashes.SHA256())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    if tamper:
        der[-5] ^= 0xFF  # inside the signature value
    pem = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    return base64.b64encode(pem).decode()


def _ku(**on: bool) -> x509.KeyUsage:
    names = [
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    ]
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


def cr(
    request: str | None, conditions: list[dict[str, Any]] | None = None, **spec: Any
) -> CertificateRequest:
    return CertificateRequest.model_validate(
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "CertificateRequest",
            "metadata": {"name": "r", "namespace": "default"},
            "spec": _without_none({"request": request, "issuerRef": {"name": "ca"}, **spec}),
            **({"status": {"conditions": conditions}} if conditions else {}),
        }
    )


def test_cr_plain_csr_is_accepted() -> None:
    assert errors(cr(csr_b64(), usages=["signing", "digital signature", "server auth"], isCA=False)) == []


def test_cr_request_required_and_decodable() -> None:
    assert errors(cr(None)) == ["spec.request: Required value: must be specified"]
    # a string that is not base64 never becomes a model: the schema refuses it (test_api_loader)
    assert errors(cr(base64.b64encode(b"hello").decode())) == [
        "spec.request: Invalid value: failed to decode csr: error decoding certificate request PEM block"
    ]


def test_cr_signature_must_verify() -> None:
    assert errors(cr(csr_b64(tamper=True))) == [
        "spec.request: Invalid value: invalid signature in csr: x509: ECDSA/RSA verification failure"
    ]


def test_cr_is_ca_must_match_basic_constraints() -> None:
    assert errors(cr(csr_b64(ca=True), isCA=True)) == []
    assert errors(cr(csr_b64(ca=True))) == [
        "spec.request: Invalid value: encoded CSR error: the IsCA flag (true) does not match the one in the spec (false)"
    ]


def test_cr_usages_must_match_csr_extensions_in_order() -> None:
    ku = _ku(digital_signature=True, key_encipherment=True)
    eku = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    usages = ["digital signature", "key encipherment", "server auth", "client auth"]
    assert errors(cr(csr_b64(ku, eku), usages=usages)) == []
    out = errors(
        cr(csr_b64(ku, eku), usages=["digital signature", "key encipherment", "client auth", "server auth"])
    )
    assert out == [
        "spec.request: Invalid value: encoded CSR error: the ExtKeyUsages ['server auth', 'client auth'] do not "
        "match the ExtKeyUsages ['client auth', 'server auth'] in the spec"
    ]
    # no usages in the spec means the defaults (digital signature, key encipherment), no EKU
    assert errors(cr(csr_b64(ku))) == []
    out = errors(cr(csr_b64(_ku(digital_signature=True))))
    assert out == [
        "spec.request: Invalid value: encoded CSR error: the KeyUsages ['digital signature'] do not match the "
        "KeyUsages ['digital signature', 'key encipherment'] in the spec"
    ]


def test_cr_approval_conditions() -> None:
    req = csr_b64()
    assert errors(cr(req, [{"type": "Approved", "status": "True"}])) == []
    assert errors(cr(req, [{"type": "Approved", "status": "False"}])) == [
        'status.conditions.Approved: Invalid value: "False": "Approved" condition may only be set to True'
    ]
    assert errors(cr(req, [{"type": "Denied", "status": "True"}, {"type": "Denied", "status": "True"}])) == [
        'status.conditions: Forbidden: multiple "Denied" conditions present'
    ]
    assert errors(
        cr(req, [{"type": "Approved", "status": "True"}, {"type": "Denied", "status": "True"}])
    ) == ["status.conditions: Forbidden: both 'Denied' and 'Approved' conditions cannot coexist"]


def test_cr_update_rules() -> None:
    old = cr(csr_b64(), [{"type": "Approved", "status": "True"}])
    old.metadata.annotations = {"cert-manager.io/certificate-revision": "1"}
    new = old.copy_deep()
    assert validate_update(old, new) == []
    new.spec.is_ca = True
    new.metadata.annotations = {"cert-manager.io/certificate-revision": "2"}
    assert new.status is not None
    new.status.conditions = []
    assert [str(e) for e in validate_update(old, new)] == [
        "metadata.annotations.cert-manager.io/certificate-revision: Forbidden: "
        "cannot change cert-manager annotation after creation",
        "status.conditions: Forbidden: 'Approved' condition may not be modified once set",
        "spec: Forbidden: cannot change spec after creation",
    ]
    # a changed message is a modification too; adding a decision to an undecided request is not
    reworded = old.copy_deep()
    assert reworded.status is not None and reworded.status.conditions is not None
    reworded.status.conditions[0].message = "changed"
    assert [str(e) for e in validate_update(old, reworded)] == [
        "status.conditions: Forbidden: 'Approved' condition may not be modified once set"
    ]
    undecided = cr(csr_b64())
    decided = undecided.copy_deep()
    decided.status = CertificateRequestStatus(conditions=[Condition(type="Denied", status="True")])
    assert validate_update(undecided, decided) == []


# --- §1.9 Issuer ------------------------------------------------------------------------------


def test_exactly_one_issuer_type() -> None:
    assert errors(issuer({"selfSigned": {}})) == []
    assert errors(issuer({"selfSigned": {}}, ClusterIssuer)) == []
    assert errors(issuer({})) == ["spec: Required value: at least one issuer must be configured"]
    assert errors(issuer({"ca": {"secretName": "ca"}, "selfSigned": {}})) == [
        "spec.selfSigned: Forbidden: may not specify more than one issuer type"
    ]


def test_ca_issuer() -> None:
    assert errors(issuer({"ca": {"secretName": "ca", "ocspServers": ["http://ocsp.example"]}})) == []
    assert errors(issuer({"ca": {"ocspServers": [""], "issuingCertificateURLs": [""]}})) == [
        "spec.ca.secretName: Required value",
        'spec.ca.ocspServer[0]: Invalid value: "": must be a valid URL, e.g., http://ocsp.int-x3.letsencrypt.org',
        'spec.ca.issuingCertificateURLs[0]: Invalid value: "": must be a valid URL',
    ]


def _ca_bundle() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = _dt.datetime.now(_dt.UTC)
    c = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + _dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(c.public_bytes(serialization.Encoding.PEM)).decode()


def test_acme_issuer_core_fields() -> None:
    assert errors(acme()) == []
    assert errors(acme(server=None, privateKeySecretRef=None)) == [
        "spec.acme.privateKeySecretRef.name: Required value: private key secret name is a required field",
        "spec.acme.server: Required value: acme server URL is a required field",
    ]
    assert errors(acme(caBundle=_ca_bundle())) == []
    assert errors(acme(caBundle=_ca_bundle(), skipTLSVerify=True)) == [
        'spec.acme.caBundle: Invalid value: "": caBundle and skipTLSVerify are mutually exclusive and cannot both be set',
        "spec.acme.skipTLSVerify: Invalid value: true: caBundle and skipTLSVerify are mutually exclusive and cannot both be set",
    ]
    assert errors(acme(caBundle=base64.b64encode(b"junk").decode())) == [
        'spec.acme.caBundle: Invalid value: "": cert bundle didn\'t contain any valid certificates'
    ]
    assert errors(acme(preferredChain="x" * 65))[0].endswith("in body should be at most 64 chars long")


def test_acme_external_account_binding() -> None:
    good = acme(externalAccountBinding={"keyID": "k", "keySecretRef": REF, "keyAlgorithm": "HS256"})
    assert errors(good) == []
    assert warnings(good) == [
        "ACME issuer spec field 'externalAccountBinding.keyAlgorithm' is deprecated. The field is no "
        "longer used and will be removed in a future release."
    ]
    assert errors(acme(externalAccountBinding={"keySecretRef": {"name": "s"}})) == [
        "spec.acme.externalAccountBinding.keyID: Required value: the keyID field is required when using externalAccountBinding",
        "spec.acme.externalAccountBinding.keySecretRef.key: Required value: secret key is required",
    ]


def test_solver_needs_exactly_one_type() -> None:
    assert solver({}) == ["spec.acme.solvers[0]: Required value: no solver type configured"]
    both = {"http01": {"ingress": {}}, "dns01": {"webhook": {"groupName": "g", "solverName": "s"}}}
    assert solver(both) == [
        "spec.acme.solvers[0]: Forbidden: may not specify more than one solver type in a single solver"
    ]
    assert solver({"http01": {"ingress": {}}, "waitInsteadOfSelfCheck": "30s"}) == []
    assert solver({"http01": {"ingress": {}}, "waitInsteadOfSelfCheck": "-1s"}) == [
        "spec.acme.solvers[0].waitInsteadOfSelfCheck: Invalid value: -1s: waitInsteadOfSelfCheck must not be negative"
    ]


def test_http01_solver() -> None:
    assert solver({"http01": {}}) == [
        "spec.acme.solvers[0].http01: Required value: no HTTP01 solver type configured"
    ]
    assert solver({"http01": {"ingress": {}, "gatewayHTTPRoute": {}}}) == [
        "spec.acme.solvers[0].http01: Required value: only 1 HTTP01 solver type may be configured"
    ]
    assert solver({"http01": {"ingress": {"class": "nginx", "ingressClassName": "nginx"}}}) == [
        "spec.acme.solvers[0].http01.ingress: Forbidden: only one of 'ingressClassName', 'name' or 'class' "
        "should be specified"
    ]
    out = solver({"http01": {"ingress": {"ingressClassName": "Nginx", "serviceType": "LoadBalancer"}}})
    assert out[0].startswith(
        'spec.acme.solvers[0].http01.ingress.ingressClassName: Invalid value: "Nginx": must be a valid '
        "IngressClass name: a lowercase RFC 1123 subdomain"
    )
    assert out[1] == (
        'spec.acme.solvers[0].http01.ingress.serviceType: Invalid value: "LoadBalancer": '
        'must be empty, "ClusterIP" or "NodePort"'
    )
    # cert-manager reports gatewayHTTPRoute problems under "gateway"
    refs = [{"name": "gw", "kind": "Gateway"}, {"kind": "Gateway"}, {"name": "other"}]
    gw = {"http01": {"gatewayHTTPRoute": {"serviceType": "LoadBalancer", "parentRefs": refs}}}
    assert solver(gw) == [
        'spec.acme.solvers[0].http01.gateway.serviceType: Invalid value: "LoadBalancer": '
        'must be empty, "ClusterIP" or "NodePort"',
        "spec.acme.solvers[0].http01.gateway.parentRefs[1].name: Required value: name is required when kind is specified",
    ]
    assert solver({"http01": {"gatewayHTTPRoute": {"parentRefs": [{"name": "gw"}]}}}) == [
        "spec.acme.solvers[0].http01.gateway.parentRefs[0].kind: Required value: kind is required when name is specified"
    ]
    assert solver({"http01": {"gatewayHTTPRoute": {}}}) == []


def test_dns01_provider_count_and_common_fields() -> None:
    assert dns01({}) == ["spec.acme.solvers[0].dns01: Required value: no DNS01 provider configured"]
    two = {"cloudflare": {"apiTokenSecretRef": REF}, "route53": {}}
    assert dns01(two) == [
        "spec.acme.solvers[0].dns01.route53: Forbidden: may not specify more than one provider type"
    ]
    assert dns01(
        {
            "route53": {},
            "cnameStrategy": "Chase",
            "nameservers": ["8.8.8.8:53", "https://dns.example/q", "8.8.8.8"],
        }
    ) == [
        'spec.acme.solvers[0].dns01.cnameStrategy: Invalid value: "Chase": must be one of "None" or "Follow"',
        'spec.acme.solvers[0].dns01.nameservers[2]: Invalid value: "8.8.8.8": must be a host:port address or an https:// URL',
    ]


def test_dns01_provider_fields() -> None:
    p = "spec.acme.solvers[0].dns01"
    assert dns01({"cloudflare": {"apiKeySecretRef": REF}}) == [f"{p}.cloudflare.email: Required value"]
    assert dns01({"cloudflare": {}}) == [
        f"{p}.cloudflare: Required value: apiKeySecretRef or apiTokenSecretRef is required"
    ]
    assert dns01({"cloudflare": {"apiKeySecretRef": REF, "apiTokenSecretRef": REF, "email": "a@b"}}) == [
        f"{p}.cloudflare: Forbidden: apiKeySecretRef and apiTokenSecretRef cannot both be specified"
    ]
    assert dns01({"route53": {"accessKeyID": "A", "accessKeyIDSecretRef": REF}}) == [
        f"{p}.route53: Required value: accessKeyID and accessKeyIDSecretRef cannot both be specified"
    ]
    assert dns01({"cloudDNS": {"serviceAccountSecretRef": {"name": "s"}}}) == [
        f"{p}.cloudDNS.serviceAccountSecretRef.key: Required value: secret key is required",
        f"{p}.cloudDNS.project: Required value",
    ]
    assert dns01({"azureDNS": {"clientID": "c", "managedIdentity": {"clientID": "m"}}}) == [
        f"{p}.azureDNS.clientSecretSecretRef: Required value",
        f"{p}.azureDNS.tenantID: Required value",
        f"{p}.azureDNS.managedIdentity: Forbidden: managed identity cannot be used at the same time as "
        "clientID, clientSecretSecretRef or tenantID",
        f"{p}.azureDNS.subscriptionID: Required value",
        f"{p}.azureDNS.resourceGroupName: Required value",
    ]
    azure_mi = {
        "subscriptionID": "s",
        "resourceGroupName": "r",
        "managedIdentity": {"clientID": "c", "resourceID": "r"},
    }
    assert dns01({"azureDNS": azure_mi}) == [
        f"{p}.azureDNS.managedIdentity: Forbidden: managedIdentityClientID and managedIdentityResourceID cannot both be specified"
    ]
    azure_tenant = {"subscriptionID": "s", "resourceGroupName": "r", "managedIdentity": {"tenantID": "t"}}
    assert dns01({"azureDNS": azure_tenant}) == [
        f"{p}.azureDNS.managedIdentity: Required value: managedIdentityClientID is required when using managedIdentityTenantID"
    ]
    assert dns01({"azureDNS": {"subscriptionID": "s", "resourceGroupName": "r", "environment": "Moon"}}) == [
        f'{p}.azureDNS.environment: Invalid value: "Moon": must be either empty or one of AzurePublicCloud, '
        "AzureChinaCloud, AzureGermanCloud, or AzureUSGovernmentCloud"
    ]
    assert dns01({"acmeDNS": {"accountSecretRef": REF}}) == [f"{p}.acmeDNS.host: Required value"]
    assert dns01({"digitalocean": {"tokenSecretRef": {"key": "k"}}}) == [
        f"{p}.digitalocean.tokenSecretRef.name: Required value: secret name is required"
    ]
    assert dns01(
        {"akamai": {"clientTokenSecretRef": REF, "clientSecretSecretRef": REF, "accessTokenSecretRef": REF}}
    ) == [f"{p}.akamai.serviceConsumerDomain: Required value"]
    # akamai paths use cert-manager's Go field names
    assert dns01(
        {"akamai": {"serviceConsumerDomain": "d", "clientSecretSecretRef": REF, "clientTokenSecretRef": REF}}
    ) == [
        f"{p}.akamai.accessToken.name: Required value: secret name is required",
        f"{p}.akamai.accessToken.key: Required value: secret key is required",
    ]
    assert dns01({"webhook": {"groupName": "acme.example.com"}}) == [
        f"{p}.webhook.solverName: Required value: solver name must be specified"
    ]


def test_dns01_rfc2136() -> None:
    p = "spec.acme.solvers[0].dns01.rfc2136"
    tsig = {"tsigKeyName": "k", "tsigSecretSecretRef": REF}
    for ns in ("1.2.3.4", "1.2.3.4:5353", "[2001:db8::1]:53", "ns.example.com"):
        assert dns01({"rfc2136": {"nameserver": ns, "tsigAlgorithm": "hmacsha512", **tsig}}) == [], ns
    assert dns01({"rfc2136": {}}) == [f"{p}.nameserver: Required value"]
    assert dns01({"rfc2136": {"nameserver": "1.2.3.4:99999", **tsig}}) == [
        f'{p}.nameserver: Invalid value: "1.2.3.4:99999": nameserver must be set in the form host:port where host '
        "is an IPv4 address, an enclosed IPv6 address or a hostname and port is an optional port number."
    ]
    assert dns01({"rfc2136": {"nameserver": "1.2.3.4", "tsigAlgorithm": "HMACSHA3", **tsig}}) == [
        f'{p}.tsigAlgorithm: Unsupported value: "": supported values: "HMACMD5", "HMACSHA1", "HMACSHA256", "HMACSHA512"'
    ]
    assert dns01({"rfc2136": {"nameserver": "1.2.3.4", "tsigKeyName": "k"}}) == [
        f"{p}.tsigSecretSecretRef.name: Required value: secret name is required",
        f"{p}.tsigSecretSecretRef.key: Required value: secret key is required",
    ]
    assert dns01({"rfc2136": {"nameserver": "1.2.3.4", "tsigSecretSecretRef": REF}}) == [
        f"{p}.tsigKeyName: Required value"
    ]


def vault(**fields: Any) -> list[str]:
    base: dict[str, Any] = {
        "server": "https://vault",
        "path": "pki/sign/role",
        "auth": {"tokenSecretRef": REF},
    }
    base.update(fields)
    return errors(issuer({"vault": _without_none(base)}))


def test_vault_issuer() -> None:
    assert vault() == []
    assert vault(server=None, path=None) == [
        "spec.vault.server: Required value",
        "spec.vault.path: Required value",
    ]
    assert vault(path="pki/../sys/sign/x") == [
        "spec.vault.path: Invalid value: \"pki/../sys/sign/x\": must not contain '..' path segments"
    ]
    assert vault(caBundle=_ca_bundle(), caBundleSecretRef=REF) == [
        'spec.vault.caBundle: Invalid value: "<snip>": specified caBundle and caBundleSecretRef cannot be used together',
        'spec.vault.caBundleSecretRef: Invalid value: "s": specified caBundleSecretRef and caBundle cannot be used together',
    ]
    assert vault(clientCertSecretRef=REF) == [
        'spec.vault.clientKeySecretRef: Invalid value: "<snip>": clientKeySecretRef must be provided when defining the clientCertSecretRef'
    ]
    assert vault(auth={}) == [
        "spec.vault.auth: Required value: please supply one of: appRole, kubernetes, tokenSecretRef, clientCertificate, aws"
    ]
    assert vault(auth={"appRole": {"path": "approle"}}) == [
        "spec.vault.auth.appRole.roleId: Required value",
        "spec.vault.auth.appRole.secretRef.name: Required value",
    ]
    assert vault(auth={"kubernetes": {"role": "r"}}) == [
        "spec.vault.auth.kubernetes: Required value: please supply one of: secretRef, serviceAccountRef"
    ]
    both = {"role": "r", "secretRef": REF, "serviceAccountRef": {"name": "sa"}}
    assert vault(auth={"kubernetes": both}) == [
        "spec.vault.auth.kubernetes: Forbidden: please supply one of: secretRef, serviceAccountRef"
    ]
    assert vault(auth={"aws": {"serviceAccountRef": {"name": "sa"}}}) == [
        "spec.vault.auth.aws.role: Required value",
        "spec.vault.auth.aws.iamRoleArn: Required value: iamRoleArn is required when using serviceAccountRef for IRSA",
    ]
    assert vault(auth={"kubernetes": {"role": "r", "mountPath": "/v1/auth/../sys", "secretRef": REF}}) == [
        "spec.vault.auth.kubernetes.path: Invalid value: \"/v1/auth/../sys\": must not contain '..' path segments"
    ]


def test_venafi_issuer() -> None:
    cloud = {"apiTokenSecretRef": REF}
    assert errors(issuer({"venafi": {"zone": "z", "cloud": cloud}})) == []
    assert (
        errors(issuer({"venafi": {"zone": "z", "ngts": {"tsgID": "1", "credentialsRef": {"name": "c"}}}}))
        == []
    )
    assert errors(issuer({"venafi": {}})) == [
        "spec.venafi.zone: Required value",
        'spec.venafi: Invalid value: "object": exactly one of tpp, cloud, or ngts must be configured',
    ]
    assert errors(issuer({"venafi": {"zone": "z", "cloud": cloud, "tpp": {"url": "https://tpp"}}})) == [
        'spec.venafi: Invalid value: "object": exactly one of tpp, cloud, or ngts must be configured'
    ]
    assert errors(issuer({"venafi": {"zone": "z", "ngts": {}}})) == [
        "spec.venafi.ngts.tsgID: Required value",
        "spec.venafi.ngts.credentialsRef.name: Required value",
    ]
    assert errors(issuer({"venafi": {"zone": "z", "tpp": {}}})) == ["spec.venafi.tpp.url: Required value"]
    tpp = {"url": "https://tpp", "caBundle": _ca_bundle(), "caBundleSecretRef": REF}
    assert errors(issuer({"venafi": {"zone": "z", "tpp": tpp}})) == [
        "spec.venafi.tpp: Forbidden: may not specify more than one of caBundle/caBundleSecretRef as TPP CA Bundle"
    ]


# --- §1.10 / §1.11 Order and Challenge ----------------------------------------------------------


def order(status: dict[str, Any] | None = None, **spec: Any) -> Order:
    return Order.model_validate(
        {
            "metadata": {"name": "o", "namespace": "default"},
            "spec": {"request": csr_b64(), "issuerRef": {"name": "le"}, **spec},
            **({"status": status} if status else {}),
        }
    )


def test_order_create_needs_request_and_issuer() -> None:
    assert errors(order()) == []
    bare = Order.new("o", "default")
    assert errors(bare) == ["spec.issuerRef: Required value", "spec.request: Required value"]


def test_order_update_keeps_server_state() -> None:
    authz = {
        "url": "https://a/1",
        "identifier": "example.com",
        "wildcard": False,
        "challenges": [{"url": "https://c/1", "token": "t", "type": "http-01"}],
    }
    old = order({"url": "https://o/1", "finalizeURL": "https://o/1/fin", "authorizations": [authz]})
    new = old.copy_deep()
    assert new.status is not None
    new.status.state = "ready"  # state may move on
    assert validate_update(old, new) == []
    new.status.url = "https://o/2"
    new.status.authorizations[0].wildcard = True  # type: ignore[index]
    new.status.authorizations[0].challenges[0].token = "u"  # type: ignore[index]
    assert [str(e) for e in validate_update(old, new)] == [
        "status.url: Forbidden: field is immutable once set",
        "status.authorizations[0].wildcard: Forbidden: field is immutable once set",
        "status.authorizations[0].challenges[0].token: Forbidden: field is immutable once set",
    ]
    fewer = old.copy_deep()
    assert fewer.status is not None
    fewer.status.authorizations = []
    fewer.spec.request = base64.b64decode(csr_b64(ca=True))
    assert [str(e) for e in validate_update(old, fewer)] == [
        "spec.request: Forbidden: field is immutable once set",
        "status.authorizations: Forbidden: field is immutable once set",
    ]


def test_challenge_spec_is_immutable() -> None:
    ch = Challenge.model_validate(
        {
            "metadata": {"name": "ch", "namespace": "default"},
            "spec": {
                "url": "https://c/1",
                "authorizationURL": "https://a/1",
                "dnsName": "example.com",
                "wildcard": False,
                "type": "HTTP-01",
                "token": "t",
                "key": "t.thumb",
                "solver": {"http01": {"ingress": {}}},
                "issuerRef": {"name": "le"},
            },
        }
    )
    assert errors(ch) == []
    changed = ch.copy_deep()
    changed.spec.key = "other"
    assert [str(e) for e in validate_update(ch, changed)] == [
        "spec: Forbidden: challenge spec is immutable after creation"
    ]
    changed.status = None
    odd = ch.copy_deep()
    odd.spec.type = "TLS-ALPN-01"
    odd.spec.token = None
    assert errors(odd) == [
        "spec.token: Required value",
        'spec.type: Unsupported value: "TLS-ALPN-01": supported values: "HTTP-01", "DNS-01"',
    ]


@pytest.mark.parametrize("kind", [Certificate, CertificateRequest, Issuer, ClusterIssuer, Order, Challenge])
def test_every_kind_is_dispatched(kind: type[Any]) -> None:
    """An empty object of each kind is refused for its spec, not only its metadata."""
    obj = kind.new("x", "default")
    assert any(str(e).startswith("spec") for e in validate(obj))
