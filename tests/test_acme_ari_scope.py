"""Which Certificates the ARI controller (certificates-ari) looks at: those of ACME issuers,
and those still carrying ARI status to clear. A CA's or a self-signed issuer's
Certificates cost it no reconcile (it runs on the io pool, so each one would be a thread
hand-off in the daemon for nothing)."""

from __future__ import annotations

from pathlib import Path

from certkeeper.api.certificate import Certificate, CertificateACMEStatus, CertificateARIStatus

from .harness import CA_SETUP, Harness, leaf_certificate

ARI = "certificates-ari"

ACME_ISSUER = """
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: acme}
spec:
  acme:
    server: https://127.0.0.1:9/directory
    privateKeySecretRef: {name: acme-account}
    solvers: [{http01: {}}]
"""


def test_ca_issued_certificates_cost_the_ari_controller_nothing(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    try:
        h.apply(CA_SETUP)
        h.apply(leaf_certificate("web"))
        h.settle()
        assert h.ready("web") is not None and h.ready("web")[0] == "True"  # type: ignore[index]
        assert h.manager.sync_counts[ARI] == 0
    finally:
        h.close()


def test_ari_status_left_on_a_ca_issued_certificate_is_cleared(tmp_path: Path) -> None:
    """A Certificate moved from an ACME issuer to a CA keeps no suggested window."""
    h = Harness(tmp_path)
    try:
        h.apply(CA_SETUP)
        h.apply(leaf_certificate("web"))
        h.settle()
        cert = h.store.get(Certificate, "default", "web")
        assert cert.status is not None
        cert.status.acme = CertificateACMEStatus(ari=CertificateARIStatus(cert_id="stale.id"))
        h.store.update_status(cert)
        h.settle()
        assert h.manager.sync_counts[ARI] >= 1
        cert = h.store.get(Certificate, "default", "web")
        assert cert.status is not None and cert.status.acme is None
    finally:
        h.close()


def test_certificates_of_an_acme_issuer_are_looked_at(tmp_path: Path) -> None:
    """Also when the issuer is created after the Certificate (it was not ACME, then it is)."""
    h = Harness(tmp_path)
    try:
        h.apply(leaf_certificate("site", issuerRef={"name": "acme"}))
        h.settle()
        assert h.manager.sync_counts[ARI] == 0
        h.apply(ACME_ISSUER)
        h.settle()
        assert h.manager.sync_counts[ARI] >= 1
    finally:
        h.close()
