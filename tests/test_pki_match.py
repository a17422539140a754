"""RequestMatchesSpec, the fuzzy certificate comparison and issuer annotation matching."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from certkeeper.api.certificate import CertificatePrivateKey, CertificateRequestSpec, CertificateSpec
from certkeeper.api.common import IssuerReference
from certkeeper.pki.csr import build_csr, decode_csr
from certkeeper.pki.errors import PKIError
from certkeeper.pki.keys import PrivateKey, generate_private_key
from certkeeper.pki.match import certificate_matches_spec, issuer_annotations_match, request_matches_spec
from certkeeper.pki.sign import sign_certificate

BASE: dict[str, Any] = {
    "secretName": "s",
    "issuerRef": {"name": "ca"},
    "commonName": "a.example",
    "dnsNames": ["a.example", "b.example"],
    "ipAddresses": ["10.0.0.1"],
    "uris": ["spiffe://x/y"],
    "emailAddresses": ["m@example.com"],
    "subject": {
        "organizations": ["O1", "O2"],
        "countries": ["DE"],
        "localities": ["L"],
        "organizationalUnits": ["OU"],
        "postalCodes": ["123"],
        "provinces": ["P"],
        "streetAddresses": ["S"],
        "serialNumber": "77",
    },
    "duration": "2160h",
}


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return generate_private_key(CertificatePrivateKey(algorithm="ECDSA"))


def spec(overrides: dict[str, Any] | None = None, **kw: Any) -> CertificateSpec:
    d = {**BASE, **(overrides or {}), **kw}
    return CertificateSpec.model_validate({k: v for k, v in d.items() if v is not None})


def cr_for(s: CertificateSpec, key: PrivateKey) -> CertificateRequestSpec:
    """The CR the requestmanager would create for ``s``."""
    return CertificateRequestSpec.model_validate(
        {
            "request": build_csr(s, key),
            "issuerRef": s.issuer_ref.to_dict() if s.issuer_ref else None,
            "isCA": s.is_ca,
            "usages": s.usages,
            "duration": s.duration,
        }
    )


def test_identical_spec_matches(key: PrivateKey) -> None:
    s = spec()
    assert request_matches_spec(cr_for(s, key), s) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dnsNames": ["a.example"]}, "spec.dnsNames"),
        ({"commonName": "c.example"}, "spec.commonName"),
        ({"ipAddresses": ["10.0.0.2"]}, "spec.ipAddresses"),
        ({"uris": []}, "spec.uris"),
        ({"emailAddresses": ["n@example.com"]}, "spec.emailAddresses"),
        ({"otherNames": [{"oid": "1.2.3.4", "utf8Value": "v"}]}, "spec.otherNames"),
        ({"subject": {**BASE["subject"], "organizations": ["O1"]}}, "spec.subject.organizations"),
        ({"subject": {**BASE["subject"], "countries": ["FR"]}}, "spec.subject.countries"),
        ({"subject": {**BASE["subject"], "localities": ["X"]}}, "spec.subject.localities"),
        ({"subject": {**BASE["subject"], "organizationalUnits": []}}, "spec.subject.organizationalUnits"),
        ({"subject": {**BASE["subject"], "postalCodes": ["9"]}}, "spec.subject.postCodes"),
        (
            {"subject": {**BASE["subject"], "provinces": ["Q"]}},
            "spec.subject.postCodes",
        ),  # cert-manager's quirk
        ({"subject": {**BASE["subject"], "streetAddresses": ["T"]}}, "spec.subject.streetAddresses"),
        ({"subject": {**BASE["subject"], "serialNumber": "78"}}, "spec.subject.serialNumber"),
        ({"isCA": True}, "spec.isCA"),
        ({"usages": ["digital signature", "key encipherment"]}, "spec.usages"),
        ({"duration": "720h"}, "spec.duration"),
        ({"issuerRef": {"name": "other"}}, "spec.issuerRef"),
        ({"issuerRef": {"name": "ca", "kind": "ClusterIssuer"}}, "spec.issuerRef"),
        ({"issuerRef": {"name": "ca", "group": "example.org"}}, "spec.issuerRef"),
    ],
)
def test_each_compared_field(key: PrivateKey, change: dict[str, Any], field: str) -> None:
    cr = cr_for(spec(), key)
    assert request_matches_spec(cr, spec(change)) == [field]


def test_order_and_defaults_do_not_matter(key: PrivateKey) -> None:
    cr = cr_for(spec(), key)
    reordered = spec(
        {
            "dnsNames": ["b.example", "a.example"],
            "subject": {**BASE["subject"], "organizations": ["O2", "O1"]},
            "issuerRef": {"name": "ca", "kind": "Issuer", "group": "cert-manager.io"},
            "duration": "90m",  # only compared when both are set: here both are, so this differs
        }
    )
    assert request_matches_spec(cr, reordered) == ["spec.duration"]
    assert request_matches_spec(cr, spec({"duration": "2160h0m0s"})) == []


def test_duration_only_compared_when_both_set(key: PrivateKey) -> None:
    cr = cr_for(spec({"duration": None}), key)
    assert request_matches_spec(cr, spec({"duration": "720h"})) == []


def test_not_compared_fields(key: PrivateKey) -> None:
    cr = cr_for(spec(), key)
    changed = spec(
        {
            "privateKey": {"encoding": "PKCS8", "algorithm": "RSA"},
            "signatureAlgorithm": "SHA512WithRSA",
            "secretTemplate": {"labels": {"a": "b"}},
            "additionalOutputFormats": [{"type": "DER"}],
            "encodeUsagesInRequest": False,
        }
    )
    assert request_matches_spec(cr, changed) == []


def test_other_names_match_when_equal(key: PrivateKey) -> None:
    s = spec({"otherNames": [{"oid": "1.3.6.1.4.1.311.20.2.3", "utf8Value": "u@x"}]})
    assert request_matches_spec(cr_for(s, key), s) == []


def test_literal_subject_compared_as_der(key: PrivateKey) -> None:
    s = spec({"commonName": None, "subject": None, "literalSubject": "CN=a.example,O=Acme,C=DE"})
    cr = cr_for(s, key)
    assert request_matches_spec(cr, s) == []
    assert request_matches_spec(
        cr, spec({"commonName": None, "subject": None, "literalSubject": "O=Acme,CN=a.example,C=DE"})
    ) == ["spec.literalSubject"]


def test_undecodable_request_raises() -> None:
    cr = CertificateRequestSpec(request=b"not a csr", issuer_ref=IssuerReference(name="ca"))
    with pytest.raises(PKIError):
        request_matches_spec(cr, spec())


def test_request_read_from_its_base64_wire_form_matches(key: PrivateKey) -> None:
    import base64

    s = spec()
    wire = cr_for(s, key).to_dict()
    assert base64.b64decode(wire["request"]).startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    assert request_matches_spec(CertificateRequestSpec.model_validate(wire), s) == []


def test_fuzzy_certificate_match(key: PrivateKey) -> None:
    issued_spec = spec({"subject": None, "commonName": "a.example", "dnsNames": ["b.example"]})
    csr = decode_csr(build_csr(issued_spec, key))
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = sign_certificate(CertificateRequestSpec(), csr, key, None, now)
    # CN and DNS names may trade places
    assert certificate_matches_spec(cert, spec({"commonName": "b.example", "dnsNames": ["a.example"]})) == []
    assert (
        certificate_matches_spec(cert, spec({"commonName": None, "dnsNames": ["a.example", "b.example"]}))
        == []
    )
    assert certificate_matches_spec(cert, spec({"commonName": "c.example", "dnsNames": ["b.example"]})) == [
        "spec.commonName"
    ]
    assert certificate_matches_spec(cert, spec({"commonName": "a.example", "dnsNames": ["c.example"]})) == [
        "spec.dnsNames"
    ]
    assert certificate_matches_spec(cert, spec({"ipAddresses": ["10.0.0.9"]})) == ["spec.ipAddresses"]
    assert certificate_matches_spec(cert, spec({"uris": None})) == ["spec.uris"]
    assert certificate_matches_spec(cert, spec({"emailAddresses": None, "uris": ["spiffe://other"]})) == [
        "spec.uris",
        "spec.emailAddresses",
    ]


def test_issuer_annotations_rule() -> None:
    ref = IssuerReference(name="ca")
    assert issuer_annotations_match({}, ref)  # no annotations: defaults only
    assert not issuer_annotations_match({}, IssuerReference(name="ca", kind="ClusterIssuer"))
    assert issuer_annotations_match({"cert-manager.io/issuer-name": "ca"}, ref)
    assert not issuer_annotations_match({"cert-manager.io/issuer-name": "other"}, ref)
    assert issuer_annotations_match(
        {
            "cert-manager.io/issuer-name": "ca",
            "cert-manager.io/issuer-kind": "Issuer",
            "cert-manager.io/issuer-group": "cert-manager.io",
        },
        ref,
    )
    assert not issuer_annotations_match(
        {"cert-manager.io/issuer-name": "ca", "cert-manager.io/issuer-kind": "ClusterIssuer"}, ref
    )
    assert issuer_annotations_match(
        {"cert-manager.io/issuer-name": "ca", "cert-manager.io/issuer-kind": ""},
        IssuerReference(name="ca", kind="Issuer"),
    )
