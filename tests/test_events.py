"""Events: what the controllers did is kept beside the objects, shown by ``describe``,
``status certificate`` and ``get events``, repeats folded, expired after an hour, and
never delivered to the controllers' watch."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from certkeeper.api.certificate import Certificate
from certkeeper.api.event import Event
from certkeeper.api.issuer import Issuer
from certkeeper.api.meta import Resource
from certkeeper.cli import events as cli_events
from certkeeper.runtime.events import EventSink
from certkeeper.store.base import Store, WatchEvent

from .harness import CA_SETUP, Harness, leaf_certificate
from .test_cli_support import Cli


def events_for(store: Store, obj: Resource) -> list[Event]:
    """The events ``describe`` and ``status`` show for ``obj``, as models."""
    return [Event.model_validate(e) for e in cli_events.events_for(store, obj.to_dict())]


def sink(h: Harness) -> EventSink:
    s = h.manager.ctx.recorder.sink
    assert s is not None
    return s


def issued(tmp_path: Path) -> Harness:
    h = Harness(tmp_path)
    h.apply(CA_SETUP + "---\n" + leaf_certificate("web"))
    h.settle()
    assert h.ready("web") == ("True", "Ready", "Certificate is up to date and has not expired")
    sink(h).flush()
    return h


def test_an_issuance_leaves_cert_managers_events_on_the_certificate(tmp_path: Path) -> None:
    h = issued(tmp_path)
    cert = h.cert("web")
    events = events_for(h.store, cert)
    assert [(e.type, e.reason, e.source.component if e.source else None, e.message) for e in events] == [
        ("Normal", "Issuing", "cert-manager-certificates-trigger", "Issuing certificate as Secret does not exist"),
        ("Normal", "Generated", "cert-manager-certificates-key-manager",
         events[1].message),
        ("Normal", "Requested", "cert-manager-certificates-request-manager",
         'Created new CertificateRequest resource "web-1"'),
        ("Normal", "Issuing", "cert-manager-certificates-issuing", "The certificate has been successfully issued"),
    ]
    assert re.fullmatch(r'Stored new private key in temporary Secret resource "web-[a-z0-9]{5}"', events[1].message or "")
    for e in events:
        ref = e.involved_object
        assert (ref.kind, ref.namespace, ref.name, ref.uid, ref.api_version) == (
            "Certificate", "default", "web", cert.uid, "cert-manager.io/v1")
        assert e.count == 1 and e.first_timestamp == e.last_timestamp == "2026-03-01T12:00:00Z"
        assert e.namespace == "default" and (e.name or "").startswith("web.")
        assert "PRIVATE KEY" not in (e.message or "")
    # the request's own events are on the request
    request = h.requests("web")[0]
    assert [e.reason for e in events_for(h.store, request)] == ["cert-manager.io", "CertificateIssued"]
    h.close()


def test_describe_and_status_show_the_events_table(tmp_path: Path) -> None:
    h = issued(tmp_path)
    cli = Cli(tmp_path)
    out = cli.on(h.store, "describe", "certificate", "web").output
    block = out[out.index("Events:"):].splitlines()
    assert re.fullmatch(r"  Type\s+Reason\s+Age\s+From\s+Message", block[1])
    assert re.fullmatch(r"  ----\s+------\s+----\s+----\s+-------", block[2])
    assert re.fullmatch(
        r'  Normal\s+Requested\s+\S+\s+cert-manager-certificates-request-manager\s+'
        r'Created new CertificateRequest resource "web-1"', block[5])
    status = cli.on(h.store, "status", "certificate", "web").output
    assert "Events:" in status and "The certificate has been successfully issued" in status
    # an object without events says so, as kubectl does
    h.store.create(Issuer.from_dict({"metadata": {"name": "quiet", "namespace": "default"}, "spec": {"selfSigned": {}}}))
    assert cli.on(h.store, "describe", "issuer", "quiet").output.rstrip().endswith("Events:  <none>")
    h.close()


def test_get_events_prints_kubectls_columns_and_objects(tmp_path: Path) -> None:
    h = issued(tmp_path)
    cli = Cli(tmp_path)
    table = cli.on(h.store, "get", "events").output.splitlines()
    assert re.fullmatch(r"LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE", table[0])
    assert any(re.fullmatch(r"\S+\s+Normal\s+Requested\s+certificate/web\s+Created new CertificateRequest "
                            r'resource "web-1"', line) for line in table)
    listed = json.loads(cli.on(h.store, "get", "ev", "-o", "json").output)
    assert listed["kind"] == "List"
    kinds = {(i["kind"], i["involvedObject"]["kind"]) for i in listed["items"]}
    assert ("Event", "Certificate") in kinds and ("Event", "CertificateRequest") in kinds
    h.close()


def test_a_failing_issuer_shows_a_warning_event(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.apply("apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: ca}\nspec: {ca: {secretName: nowhere}}\n")
    h.settle()
    sink(h).flush()
    issuer = h.get(Issuer, "ca")
    (event,) = events_for(h.store, issuer)
    assert (event.type, event.reason) == ("Warning", "ErrInitIssuer")
    assert 'secret "default/nowhere" not found' in (event.message or "")
    h.close()


def test_repeats_are_folded_and_expire_after_an_hour(tmp_path: Path) -> None:
    h = issued(tmp_path)
    cert = h.cert("web")
    recorder = h.manager.ctx.recorder.for_component("cert-manager-certificates-issuing")
    recorder.event(cert, "Warning", "Failed", "The certificate request has failed to complete")
    sink(h).flush()
    h.clock.advance(dt.timedelta(minutes=30))
    recorder.event(cert, "Warning", "Failed", "The certificate request has failed to complete")
    sink(h).flush()
    failed = [e for e in events_for(h.store, cert) if e.reason == "Failed"]
    assert len(failed) == 1
    assert (failed[0].count, failed[0].first_timestamp, failed[0].last_timestamp) == (
        2, "2026-03-01T12:00:00Z", "2026-03-01T12:30:00Z")
    out = Cli(tmp_path).on(h.store, "describe", "certificate", "web").output
    assert re.search(r"Warning\s+Failed\s+\S+ \(x2 over \S+\)\s+cert-manager-certificates-issuing", out)
    # an hour after they were last seen, events go; newer ones stay
    h.clock.advance(dt.timedelta(minutes=45))
    recorder.event(cert, "Normal", "Issuing", "Renewing certificate as renewal was scheduled at now")
    sink(h).flush()
    old = [e for e in h.store.list(Event) if e.last_timestamp == "2026-03-01T12:00:00Z"]
    assert len(old) >= 6  # this issuance's four and its request's two, and the CA's
    assert sink(h).expire() == len(old)
    left = events_for(h.store, cert)
    assert [(e.reason, e.count) for e in left] == [("Failed", 2), ("Issuing", 1)]
    h.clock.advance(dt.timedelta(hours=2))
    recorder.event(cert, "Warning", "Failed", "The certificate request has failed to complete")
    sink(h).flush()
    sink(h).expire()
    again = events_for(h.store, cert)
    # past the hour a repeat starts a new Event instead of counting on the old one
    assert [(e.reason, e.count) for e in again] == [("Failed", 1)]
    h.close()


def test_events_are_not_delivered_to_watchers(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    seen: list[WatchEvent] = []
    stop = h.store.watch(seen.append)
    try:
        cert = Certificate.from_dict({"metadata": {"name": "x", "namespace": "default", "uid": "u1"}, "spec": {}})
        h.manager.ctx.recorder.event(cert, "Normal", "Issuing", "hello")
        assert sink(h).flush() == 1
        assert [e.name for e in h.store.list(Event, "default")] and not seen
    finally:
        stop()
        h.close()
