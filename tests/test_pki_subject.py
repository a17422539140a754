"""Subject DNs: Go pkix RDN order from spec fields, RFC 4514 literal subjects."""

from __future__ import annotations

import pytest
from cryptography.x509.oid import NameOID

from certkeeper.api.certificate import CertificateSpec
from certkeeper.pki.errors import PKIError
from certkeeper.pki.subject import parse_literal_subject, subject_from_spec


def test_subject_rdn_order_follows_go_pkix() -> None:
    spec = CertificateSpec.model_validate(
        {
            "commonName": "example.com",
            "subject": {
                "serialNumber": "42",
                "organizationalUnits": ["Web"],
                "organizations": ["Acme", "Acme Sub"],
                "postalCodes": ["12345"],
                "streetAddresses": ["1 Main St"],
                "localities": ["Berlin"],
                "provinces": ["BE"],
                "countries": ["DE"],
            },
        }
    )
    name = subject_from_spec(spec)
    oids = [[a.oid for a in rdn] for rdn in name.rdns]
    assert oids == [
        [NameOID.COUNTRY_NAME],
        [NameOID.STATE_OR_PROVINCE_NAME],
        [NameOID.LOCALITY_NAME],
        [NameOID.STREET_ADDRESS],
        [NameOID.POSTAL_CODE],
        [NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATION_NAME],  # one multi-valued RDN
        [NameOID.ORGANIZATIONAL_UNIT_NAME],
        [NameOID.COMMON_NAME],
        [NameOID.SERIAL_NUMBER],
    ]
    assert {a.value for a in name.rdns[5]} == {"Acme", "Acme Sub"}


def test_go_string_types_printable_else_utf8() -> None:
    name = subject_from_spec(
        CertificateSpec.model_validate(
            {"commonName": "a.example", "subject": {"organizations": ["Müller & Co"]}}
        )
    )
    der = name.public_bytes()
    assert b"\x13\x09a.example" in der  # PrintableString
    assert b"\x0c" + bytes([len("Müller & Co".encode())]) + "Müller & Co".encode() in der  # UTF8String


def test_empty_spec_gives_empty_name() -> None:
    assert len(subject_from_spec(CertificateSpec.model_validate({"dnsNames": ["a"]}))) == 0


def test_literal_subject_reverses_string_order_and_handles_escapes() -> None:
    name = parse_literal_subject("CN=foo\\, bar,OU=a+OU=b,O=Org,C=DE,1.2.3.4=x")
    assert [sorted((a.oid.dotted_string, a.value) for a in rdn) for rdn in name.rdns] == [
        [("1.2.3.4", "x")],
        [("2.5.4.6", "DE")],
        [("2.5.4.10", "Org")],
        [("2.5.4.11", "a"), ("2.5.4.11", "b")],
        [("2.5.4.3", "foo, bar")],
    ]


def test_literal_subject_hex_escape_and_dc_uid() -> None:
    name = parse_literal_subject("UID=jdoe,DC=example,DC=com,CN=a\\2Cb")
    assert [a.oid for a in name] == [
        NameOID.COMMON_NAME,
        NameOID.DOMAIN_COMPONENT,
        NameOID.DOMAIN_COMPONENT,
        NameOID.USER_ID,
    ]
    assert name.rdns[0].get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "a,b"


@pytest.mark.parametrize("bad", ["FOO=bar", "CN", "CN=a,=b", "CN=a\\"])
def test_literal_subject_bad_input(bad: str) -> None:
    with pytest.raises(PKIError):
        parse_literal_subject(bad)
