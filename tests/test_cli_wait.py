"""``certkeeper wait``: driven by the store's watch, never by sleeping."""

from __future__ import annotations

import threading
from pathlib import Path

from certkeeper.api.certificate import Certificate, CertificateStatus
from certkeeper.api.meta import Condition, Resource
from certkeeper.cli.wait import condition_predicate, wait_for
from certkeeper.store import Store

from .test_cli_support import ISSUER_AND_CERT, Cli


def _set_ready(store: Store, status: str = "True") -> None:
    cert = store.get(Certificate, "default", "foo")
    cert.status = CertificateStatus(conditions=[Condition(type="Ready", status=status, reason="Ready", message="m")])
    store.update_status(cert)


def _applied(tmp_path: Path) -> Cli:
    ck = Cli(tmp_path)
    assert ck("apply", "-f", "-", input=ISSUER_AND_CERT).exit_code == 0
    return ck


def test_change_after_the_first_read_arrives_through_the_watch(tmp_path: Path) -> None:
    ck = _applied(tmp_path)
    ready = condition_predicate("condition=Ready")
    writers: list[threading.Thread] = []

    def predicate(obj: Resource | None) -> bool:
        if not writers:  # the first read: make the change only now, after subscribing
            t = threading.Thread(target=_set_ready, args=(store,))
            writers.append(t)
            t.start()
            return False
        return ready(None if obj is None else obj.to_dict())

    with ck.store() as store:
        assert wait_for(store, Certificate, "default", "foo", predicate, timeout=30) is True
        writers[0].join()


def test_predicates() -> None:
    cert = Certificate.new("foo", "default")
    assert not condition_predicate("condition=Ready")(cert.to_dict())
    cert.status = CertificateStatus(conditions=[Condition(type="Ready", status="False")])
    assert not condition_predicate("condition=Ready")(cert.to_dict())
    assert condition_predicate("condition=ready=false")(cert.to_dict())  # case-insensitive, like kubectl
    assert condition_predicate("delete")(None)
    assert not condition_predicate("delete")(cert.to_dict())


def test_wait_command_while_another_writer_sets_the_condition(tmp_path: Path) -> None:
    ck = _applied(tmp_path)
    with ck.store() as store:
        _set_ready(store, "False")
        # the write may land before or after the command subscribes: both must succeed
        t = threading.Thread(target=_set_ready, args=(store,))
        t.start()
        r = ck.on(store, "wait", "certificate/foo", "--for", "condition=Ready", "--timeout", "30s")
        t.join()
    assert r.exit_code == 0, r.output
    assert r.stdout == "certificate.cert-manager.io/foo condition met\n"


def test_wait_already_true_and_kind_name_form(tmp_path: Path) -> None:
    ck = _applied(tmp_path)
    with ck.store() as store:
        _set_ready(store)
    r = ck("wait", "cert", "foo", "--for=condition=Ready")
    assert r.exit_code == 0 and r.stdout == "certificate.cert-manager.io/foo condition met\n"


def test_wait_times_out(tmp_path: Path) -> None:
    ck = _applied(tmp_path)
    r = ck("wait", "certificates/foo", "--for", "condition=Ready", "--timeout", "150ms")
    assert r.exit_code == 1
    assert r.stderr == "error: timed out waiting for the condition on certificates/foo\n"


def test_wait_for_a_missing_object_is_not_found(tmp_path: Path) -> None:
    ck = _applied(tmp_path)
    r = ck("wait", "cert/nope", "--for", "condition=Ready", "--timeout", "1s")
    assert r.exit_code == 1
    assert r.stderr == 'Error from server (NotFound): certificates.cert-manager.io "nope" not found\n'


def test_wait_for_delete(tmp_path: Path) -> None:
    ck = _applied(tmp_path)
    with ck.store() as store:
        t = threading.Thread(target=store.delete, args=(Certificate, "default", "foo"))
        t.start()
        r = ck.on(store, "wait", "cert/foo", "--for", "delete", "--timeout", "30s")
        t.join()
    assert r.exit_code == 0, r.output
    assert r.stdout == "certificate.cert-manager.io/foo deleted\n"


def test_zero_timeout_checks_once(tmp_path: Path) -> None:
    ck = _applied(tmp_path)
    r = ck("wait", "cert/foo", "--for", "condition=Ready", "--timeout", "0")
    assert r.exit_code == 1 and "timed out" in r.stderr
    with ck.store() as store:
        _set_ready(store)
    assert ck("wait", "cert/foo", "--for", "condition=Ready", "--timeout", "0").exit_code == 0


def test_all_and_selector_wait_for_every_matching_object(tmp_path: Path) -> None:
    ck = _applied(tmp_path)
    r = ck("wait", "cert", "--all", "--for", "condition=Ready", "--timeout", "0")
    assert r.exit_code == 1 and "timed out waiting for the condition on certificates/foo" in r.output
    with ck.store() as store:
        _set_ready(store)
    r = ck("wait", "cert", "--all", "--for", "condition=Ready", "--timeout", "0")
    assert r.exit_code == 0 and r.output == "certificate.cert-manager.io/foo condition met\n"
    r = ck("wait", "cert", "-l", "app=web", "-A", "--for", "condition=Ready", "--timeout", "0")
    assert r.exit_code == 0 and r.output == "certificate.cert-manager.io/foo condition met\n"
    r = ck("wait", "cert", "-l", "app=db", "--for", "condition=Ready", "--timeout", "0")
    assert r.exit_code == 1 and "no matching resources found" in r.output
    r = ck("wait", "cert", "foo", "--all", "--for", "condition=Ready")
    assert r.exit_code == 1 and "name cannot be provided" in r.output
