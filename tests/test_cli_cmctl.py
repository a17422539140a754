"""cmctl's verbs against the real controllers (a step-by-step daemon on the same store):
approve and deny move issuance, renew re-issues, status explains, inspect decodes."""

from __future__ import annotations

from pathlib import Path

from certkeeper.api.acme import Challenge, Order
from certkeeper.api.certificate import Certificate, CertificateRequest
from certkeeper.api.meta import get_condition
from certkeeper.pki.chain import parse_certificates

from .harness import CA_SETUP, Harness, leaf_certificate
from .test_cli_support import Cli, make_chain, tls_secret


def _cond(obj: Certificate | CertificateRequest, ctype: str) -> tuple[str, str, str] | None:
    c = get_condition(obj.status.conditions if obj.status else None, ctype)
    return None if c is None else (c.status, c.reason or "", c.message or "")


def test_approve_issues_and_refuses_a_second_decision(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    h = Harness(tmp_path, approve_requests=False)
    try:
        h.apply(CA_SETUP)
        h.settle()
        # the CA's own Certificate also waits for approval
        for cr in h.store.list(CertificateRequest):
            assert ck.on(h.store, "approve", cr.name).exit_code == 0
        h.settle()
        h.apply(leaf_certificate("web"))
        h.settle()
        [cr] = h.requests("web")
        assert _cond(cr, "Approved") is None
        assert h.ready("web") is not None and h.ready("web")[0] == "False"  # type: ignore[index]

        r = ck.on(h.store, "approve", cr.name)
        assert r.exit_code == 0, r.output
        assert r.stdout == f"Approved CertificateRequest 'default/{cr.name}'\n"
        cr = h.get(CertificateRequest, cr.name)
        assert _cond(cr, "Approved") == ("True", "KubectlCertManager", 'manually approved by "cmctl"')
        h.settle()
        assert h.ready("web") == ("True", "Ready", "Certificate is up to date and has not expired")
        assert h.leaf("web").subject is not None

        r = ck.on(h.store, "approve", cr.name)
        assert r.exit_code == 1
        assert r.stderr == f'error: CertificateRequest "default/{cr.name}" is already approved\n'
        r = ck.on(h.store, "deny", cr.name)
        assert r.exit_code == 1 and "already approved" in r.stderr
        r = ck.on(h.store, "approve", "nope")
        assert r.stderr == 'Error from server (NotFound): certificaterequests.cert-manager.io "nope" not found\n'
    finally:
        h.close()


def test_deny_fails_issuance_status_explains_and_renew_retries(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    h = Harness(tmp_path, approve_requests=False)
    try:
        h.apply(CA_SETUP)
        h.settle()
        for cr in h.store.list(CertificateRequest):
            ck.on(h.store, "approve", cr.name)
        h.settle()
        h.apply(leaf_certificate("web"))
        h.settle()
        [cr] = h.requests("web")
        r = ck.on(h.store, "status", "certificate", "web")
        assert r.exit_code == 0
        assert f'CertificateRequest "{cr.name}" is waiting for approval' in r.stdout

        r = ck.on(h.store, "deny", cr.name, "--reason", "Policy", "--message", "not today")
        assert r.exit_code == 0 and r.stdout == f"Denied CertificateRequest 'default/{cr.name}'\n"
        assert _cond(h.get(CertificateRequest, cr.name), "Denied") == ("True", "Policy", "not today")
        h.settle()
        cert = h.cert("web")
        assert cert.status is not None and cert.status.failed_issuance_attempts == 1

        r = ck.on(h.store, "status", "certificate", "web")
        out = r.stdout
        assert out.startswith("Name: web\nNamespace: default\n")
        assert "DNS Names:\n- web.example.test\n" in out
        assert "Issuer:\n  Name: ca\n  Kind: Issuer\n  Conditions:\n    Ready: True" in out
        assert f"CertificateRequest:\n  Name: {cr.name}\n" in out
        assert "Denied: True, Reason: Policy, Message: not today" in out
        assert "Not Ready because:" in out
        assert f"Last Failure Time: {cert.status.last_failure_time}, Failed Issuance Attempts: 1" in out
        assert "Backing off: next attempt at about" in out
        assert 'Secret:\n  Name: web\n  error when finding Secret "web": not found' in out

        r = ck.on(h.store, "renew", "web")
        assert r.exit_code == 0 and r.stdout == "Manually triggered issuance of Certificate default/web\n"
        assert _cond(h.cert("web"), "Issuing") == (
            "True", "ManuallyTriggered", "Certificate re-issuance manually triggered",
        )
        h.settle()  # the back-off is bypassed: a new request for the same revision at once
        [new] = h.requests("web")
        assert new.uid != cr.uid and _cond(new, "Denied") is None
        assert ck.on(h.store, "approve", new.name).exit_code == 0
        h.settle()
        assert h.ready("web") is not None and h.ready("web")[0] == "True"  # type: ignore[index]
        r = ck.on(h.store, "status", "certificate", "web")
        assert "Not Ready because" not in r.stdout
        assert "Secret:\n  Name: web\n  Valid for:\n\tDNS Names:\n\t\t- web.example.test\n" in r.stdout.replace("\n  \t", "\n\t")
    finally:
        h.close()


def test_renew_all_and_across_namespaces(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    h = Harness(tmp_path)
    try:
        h.apply(CA_SETUP)
        h.apply(leaf_certificate("a"))
        h.apply(leaf_certificate("b"), namespace="other")
        h.settle()
        r = ck.on(h.store, "renew", "--all")
        assert r.exit_code == 0
        assert r.stdout == "Manually triggered issuance of Certificate default/a\n" \
            "Manually triggered issuance of Certificate default/root-ca\n"
        r = ck.on(h.store, "renew", "--all", "-A")
        assert "Manually triggered issuance of Certificate other/b\n" in r.stdout
        r = ck.on(h.store, "renew", "a", "--all")
        assert r.exit_code == 1 and "cannot specify Certificate names" in r.stderr
        r = ck.on(h.store, "renew")
        assert r.exit_code == 1
        before = h.leaf("a").serial_number
        h.settle()
        assert h.leaf("a").serial_number != before
        assert h.ready("a") is not None and h.ready("a")[0] == "True"  # type: ignore[index]
    finally:
        h.close()


def test_inspect_secret_decodes_chain_and_never_prints_the_key(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    chain = make_chain("www.example.com")
    with ck.store() as store:
        store.create(tls_secret("web-tls", chain))
    r = ck("inspect", "secret", "web-tls")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "\tDNS Names:\n\t\t- www.example.com\n" in out
    assert f"\tSerial Number:\t\t{chain.leaf.serial_number}\n" in out
    assert "\tCommon Name:\t\tTest Root CA\n" in out  # issued by
    assert "0: CN=www.example.com (leaf), issued by CN=Test Root CA" in out
    assert "1: CN=Test Root CA (root), issued by CN=Test Root CA" in out
    assert "CA Certificate (ca.crt):" in out
    assert "Private Key:\n\tType:\t\tECDSA 256 bit\n\tMatches tls.crt:\tyes\n" in out
    assert "PRIVATE KEY" not in out and "BEGIN" not in out
    # the decoded text is the certificate we made
    assert len(parse_certificates(chain.leaf_pem + chain.ca_pem)) == 2
    r = ck("inspect", "secret", "nope", "-n", "x")
    assert r.exit_code == 1 and r.stderr == 'Error from server (NotFound): secrets "nope" not found\n'


def test_inspect_secret_reports_a_key_that_does_not_match(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    chain, other = make_chain(), make_chain()
    secret = tls_secret("web-tls", chain)
    secret.set("tls.key", other.key_pem)
    with ck.store() as store:
        store.create(secret)
    r = ck("inspect", "secret", "web-tls")
    assert "\tMatches tls.crt:\tNO\n" in r.stdout


def test_version(tmp_path: Path) -> None:
    r = Cli(tmp_path)("version")
    assert r.exit_code == 0 and r.stdout.startswith("certkeeper version ")
    assert not (tmp_path / "store.db").exists()  # no store opened for it


def test_status_shows_the_acme_order_and_challenges_of_the_request(tmp_path: Path) -> None:
    ck = Cli(tmp_path)
    with ck.store() as store:
        cert = store.create(Certificate.model_validate({
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "site", "namespace": "default"},
            "spec": {"secretName": "site-tls", "dnsNames": ["site.example"],
                     "issuerRef": {"name": "le", "kind": "ClusterIssuer"}},
        }))
        cr = CertificateRequest.new("site-1", "default")
        cr.metadata.annotations = {"cert-manager.io/certificate-revision": "1"}
        cr.metadata.owner_references = [cert.as_owner()]
        cr.spec.request = b"-----BEGIN"
        cr = store.create(cr)
        order = Order.model_validate({
            "apiVersion": "acme.cert-manager.io/v1", "kind": "Order",
            "metadata": {"name": "site-1-123", "namespace": "default"},
            "spec": {"request": "LS0tLS1CRUdJTg==", "issuerRef": {"name": "le"}, "dnsNames": ["site.example"]},
            "status": {"state": "pending", "url": "https://acme.test/order/1", "authorizations": [
                {"url": "https://acme.test/authz/1", "identifier": "site.example", "initialState": "pending",
                 "wildcard": False}]},
        })
        order.metadata.owner_references = [cr.as_owner()]
        order = store.create(order)
        challenge = Challenge.model_validate({
            "apiVersion": "acme.cert-manager.io/v1", "kind": "Challenge",
            "metadata": {"name": "site-1-123-456", "namespace": "default"},
            "spec": {"type": "HTTP-01", "token": "tok", "dnsName": "site.example", "key": "tok.thumb",
                     "url": "https://acme.test/chall/1", "authorizationURL": "https://acme.test/authz/1"},
            "status": {"state": "pending", "processing": True, "presented": True,
                       "reason": "Waiting for HTTP-01 challenge propagation"},
        })
        challenge.metadata.owner_references = [order.as_owner()]
        store.create(challenge)
    r = ck("status", "certificate", "site")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "Issuer:\n  Name: le\n  Kind: ClusterIssuer\n  error when finding ClusterIssuer \"le\": not found" in out
    assert "CertificateRequest:\n  Name: site-1\n" in out
    assert "Order:\n  Name: site-1-123\n  State: pending, Reason: \n" in out
    assert "URL: https://acme.test/authz/1, Identifier: site.example, Initial State: pending, Wildcard: false" in out
    assert ("Challenges:\n- Name: site-1-123-456, Type: HTTP-01, Token: tok, Domain: site.example, State: pending, "
            "Reason: Waiting for HTTP-01 challenge propagation, Processing: true, Presented: true\n") in out
    assert "Not Ready because:\n  the Certificate has no Ready condition yet" in out
    assert "tok.thumb" not in out  # the key authorization is not shown
