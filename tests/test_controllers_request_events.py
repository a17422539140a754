"""Which CertificateRequest events wake the request manager: not another controller's
approval or issuance (they change nothing it decides on), but a failure does."""

from __future__ import annotations

from pathlib import Path

from certkeeper.api.certificate import CertificateRequest, CertificateRequestStatus
from certkeeper.api.meta import set_condition

from .harness import CA_SETUP, START, Harness, leaf_certificate

MANAGER = "certificates-request-manager"


def test_an_issuance_wakes_the_request_manager_twice(tmp_path: Path) -> None:
    """Once to create the request and once for the next key's Secret, not for the
    request's approval and issuance (four before)."""
    h = Harness(tmp_path)
    try:
        h.apply(CA_SETUP)
        h.settle()
        before = h.manager.sync_counts[MANAGER]
        h.apply(leaf_certificate("web"))
        h.settle()
        assert h.ready("web") is not None and h.ready("web")[0] == "True"  # type: ignore[index]
        assert h.manager.sync_counts[MANAGER] - before == 2
    finally:
        h.close()


def test_a_request_that_failed_before_this_issuance_is_replaced(tmp_path: Path) -> None:
    """A failure left on the request of the revision being issued, from before the issuance
    began, is not this issuance's: the request manager deletes the request and makes a new
    one, which it only can if the request's failure reaches it."""
    h = Harness(tmp_path, approve_requests=False)
    try:
        h.apply(CA_SETUP)
        h.apply(leaf_certificate("web"))
        h.settle()
        [cr] = h.requests("web")
        assert cr.name == "web-1"
        cr.status = cr.status or CertificateRequestStatus()
        cr.status.conditions = set_condition(
            cr.status.conditions, "Ready", "False", "Failed", "signing failed earlier", START.replace(year=2000)
        )
        cr.status.failure_time = "2000-01-01T00:00:00Z"
        h.store.update_status(cr)
        h.settle()
        [again] = h.requests("web")
        assert again.name == "web-1" and again.uid != cr.uid
        assert again.status is None or not again.status.conditions
        assert isinstance(again, CertificateRequest)
    finally:
        h.close()
