"""Benchmark: how long one ACME certificate takes through the daemon, alone and in a batch.

    python bench/acme_latency.py                        # 7 single runs per challenge, a batch of 100
    python bench/acme_latency.py --single 11 --count 100 --peer-count 3 --keep

What one run measures, on Pebble (``PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0
PEBBLE_WFE_NONCEREJECT=0``) resolving through one BIND:

- **single**: the real daemon (``python -m certkeeper run``) with its ACME Issuer Ready and
  nothing else to do; one Certificate is applied, and the time from the apply until it is
  Ready is one run. ``--single`` runs, one after another, each after the daemon has
  finished the previous one's follow-up work (``--gap``). HTTP-01 is answered by the
  daemon's built-in responder; DNS-01 goes to BIND by RFC 2136.
- **batch**: a second daemon on a fresh store; ``--count`` Certificates applied at once.
  Every certificate's time from its own apply to Ready: p50, p90, max, and the whole
  batch.
- **floor**: the bare ``acme`` library (certbot's) in this process, against its own Pebble:
  one account, then per certificate a new P-256 key and CSR, new order, HTTP-01 answered
  by a tiny responder thread, authorization polled, finalize, order polled, certificate
  downloaded; ``--count`` of them one after another, polling every ``--floor-poll`` s.
  The batch target is the whole batch within 3x this loop's total.
- **certbot** (Debian's): ``--peer-count`` whole ``certbot certonly`` processes, as
  ``bench/acme_issuance.py`` runs them; the median per certificate.

Besides the totals, each certificate's way through the stages is read from the store's
watch (this process polls the store every 5 ms; the daemon is unchanged): Issuing set,
CertificateRequest, Order, Order created at the server, Challenge, scheduled, presented,
accepted, valid, Order valid, request issued, Ready. The median time of each stage since
the apply says where a single certificate waits, and in a batch whether certificates move
in lockstep (every stage's p50 near the batch's end) or one after another.

Every issued certificate is decoded and checked (P-256 key, its one name) before it counts.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import http.server
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import josepy
import requests as http_requests
from acme import challenges as acme_challenges
from acme import client as acme_client
from acme import crypto_util as acme_crypto
from acme import messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.acme_issuance import (  # noqa: E402
    NAMESPACE,
    Daemon,
    ReadyWatch,
    acme_issuer,
    bench_certbot,
    certificate,
    check_leaf,
    nonce,
    peers,
    sampled,
    summarize_samples,
)
from tests.peers import BindServer, PebbleServer, free_port  # noqa: E402

import certkeeper.store.sqlite as sqlite_module  # noqa: E402
from certkeeper.api import constants as c  # noqa: E402
from certkeeper.api.acme import Challenge, Order  # noqa: E402
from certkeeper.api.certificate import Certificate, CertificateRequest  # noqa: E402
from certkeeper.api.core import Secret  # noqa: E402
from certkeeper.api.issuer import Issuer  # noqa: E402
from certkeeper.api.meta import get_condition  # noqa: E402
from certkeeper.store.base import WatchEvent  # noqa: E402
from certkeeper.store.sqlite import SqliteStore  # noqa: E402

# This process only observes: it sees the daemon's writes by polling the store, every
# 200 ms by default; 5 ms keeps that delay out of the figures. The daemon is not affected.
sqlite_module.POLL_INTERVAL = 0.005

STAGES: tuple[str, ...] = (
    "issuing", "request", "order", "ordered", "challenge", "scheduled", "presented", "accepted",
    "valid", "order valid", "issued", "ready",
)
"""In the order an issuance passes them; see ``Timeline._stages_of``."""


# -- reading the stages from the store ---------------------------------------------------

def _true(conditions: Any, kind: str) -> bool:
    cond = get_condition(conditions, kind)
    return cond is not None and cond.status == "True"


class Timeline:
    """When each certificate first reached each stage (``time.perf_counter``), from the watch.

    Objects are tied to their Certificate by the chain cert-manager keeps: the request's
    ``cert-manager.io/certificate-name`` annotation, the Order's owner (the request), the
    Challenge's owner (the Order)."""

    def __init__(self, store: SqliteStore) -> None:
        self.lock = threading.Lock()
        self.applied: dict[str, float] = {}
        self.seen: dict[str, dict[str, float]] = {}
        self.owner_cert: dict[str, str] = {}  # request or Order name -> Certificate name
        self.ready = threading.Condition(self.lock)
        self._stop = store.watch(self._on_event)

    def close(self) -> None:
        self._stop()

    def applying(self, name: str) -> None:
        with self.lock:
            self.applied[name] = time.perf_counter()

    def _cert_of(self, obj: Any) -> str | None:
        if isinstance(obj, Certificate):
            return obj.name
        if isinstance(obj, CertificateRequest):
            return obj.annotations().get(c.ANN_CERTIFICATE_NAME)
        ref = obj.controller_ref()
        return self.owner_cert.get(ref.name) if ref is not None else None

    @staticmethod
    def _stages_of(obj: Any) -> list[str]:
        st = obj.status
        if isinstance(obj, Certificate):
            conds = st.conditions if st else None
            return [s for s, kind in (("issuing", "Issuing"), ("ready", "Ready")) if _true(conds, kind)]
        if isinstance(obj, CertificateRequest):
            return ["request"] + (["issued"] if st and _true(st.conditions, "Ready") else [])
        if isinstance(obj, Order):
            out = ["order"]
            if st and st.url:
                out.append("ordered")
            if st and st.state == "valid" and st.certificate:
                out.append("order valid")
            return out
        if isinstance(obj, Challenge):
            out = ["challenge"]
            if st and st.processing:
                out.append("scheduled")
            if st and st.presented:
                out.append("presented")
            if st and st.state in ("processing", "valid"):
                out.append("accepted")
            if st and st.state == "valid":
                out.append("valid")
            return out
        return []

    def _on_event(self, event: WatchEvent) -> None:
        now = time.perf_counter()
        obj = event.obj
        if not isinstance(obj, Certificate | CertificateRequest | Order | Challenge):
            return
        with self.lock:
            cert = self._cert_of(obj)
            if cert is None:
                return
            if isinstance(obj, CertificateRequest | Order):
                self.owner_cert[obj.name] = cert
            stages = self.seen.setdefault(cert, {})
            for stage in self._stages_of(obj):
                stages.setdefault(stage, now)
            if "ready" in stages:
                self.ready.notify_all()

    def wait_ready(self, names: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                missing = [n for n in names if "ready" not in self.seen.get(n, {})]
                if not missing:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(missing)} Certificates not Ready after {timeout:.0f}s: {missing[:5]}")
                self.ready.wait(left)

    def since_apply(self, name: str, stage: str) -> float | None:
        at = self.seen.get(name, {}).get(stage)
        return None if at is None else at - self.applied[name]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def stage_table(timeline: Timeline, names: list[str]) -> str:
    rows = [("stage", "reached by", "p50 s", "p90 s", "max s")]
    for stage in STAGES:
        values = [v for n in names if (v := timeline.since_apply(n, stage)) is not None]
        if not values:
            continue
        rows.append((stage, f"{len(values)}/{len(names)}", f"{percentile(values, 50):.3f}",
                     f"{percentile(values, 90):.3f}", f"{max(values):.3f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  " + "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in
                                      enumerate(zip(row, widths, strict=True))) for row in rows)


# -- what the ACME server was asked ----------------------------------------------------------

_REQUEST = re.compile(r" (GET|HEAD|POST) (/[A-Za-z-]*/?)\S* -> calling handler")
_NAMES = {"/order-plz": "newOrder", "/authZ/": "authorization", "/chalZ/": "challenge",
          "/my-order/": "order", "/finalize-order/": "finalize", "/certZ/": "certificate",
          "/nonce-plz": "newNonce", "/sign-me-up": "newAccount", "/dir": "directory"}


class RequestCount:
    """Requests Pebble logged from now on (it logs one line per request), by endpoint."""

    def __init__(self, pebble: PebbleServer) -> None:
        self.log = pebble.log
        self.offset = self.log.stat().st_size

    def counts(self) -> collections.Counter[str]:
        with self.log.open("rb") as handle:
            handle.seek(self.offset)
            text = handle.read().decode(errors="replace")
        found: collections.Counter[str] = collections.Counter()
        for method, path in _REQUEST.findall(text):
            found[f"{method} {_NAMES.get(path, path)}"] += 1
        return found


def per_certificate(counts: collections.Counter[str], n: int) -> str:
    total = sum(counts.values())
    parts = ", ".join(f"{name} {count / n:.2f}" for name, count in counts.most_common())
    return f"{total / n:.2f} per certificate ({parts})"


# -- the daemon ----------------------------------------------------------------------------

@dataclasses.dataclass
class DaemonRun:
    challenge: str
    times: list[float]
    """Seconds from each Certificate's apply to its Ready."""
    total: float
    first: float
    cpu: float
    stages: str
    errors: list[str]
    requests: collections.Counter[str]
    syncs: dict[str, float] = dataclasses.field(default_factory=dict)
    """Reconciles per controller during the run (with ``--syncs``)."""


@contextmanager
def daemon_for(work: Path, tag: str, pebble: PebbleServer, bind: BindServer, challenge: str,
               extra: list[str]) -> Iterator[tuple[SqliteStore, Daemon]]:
    """A daemon on a fresh store with the ACME Issuer Ready."""
    folder = work / tag
    folder.mkdir()
    store = SqliteStore(folder / "store.db")
    if challenge == "dns-01":
        tsig = Secret.model_validate({"apiVersion": "v1", "kind": "Secret",
                                      "metadata": {"name": "tsig", "namespace": NAMESPACE}})
        tsig.set("secret", bind.tsig.secret.encode())
        store.create(tsig)
    store.create(acme_issuer(pebble, bind, challenge))
    args = ["--http01-address", f"127.0.0.1:{pebble.http_port}" if challenge == "http-01" else "",
            "--acme-http01-solver-nameservers", bind.address, "--dns01-recursive-nameservers", bind.address,
            *extra]
    daemon = Daemon(folder / "store.db", folder / "daemon.log", args)
    try:
        ReadyWatch(store, Issuer, {"pebble"}).wait(60)
        yield store, daemon
    finally:
        daemon.stop()
        store.close()


def check_secrets(store: SqliteStore, names: dict[str, str]) -> list[str]:
    errors = []
    for cert, dns_name in names.items():
        secret = store.try_get(Secret, NAMESPACE, cert)
        problem = check_leaf(secret.get("tls.crt") or b"", dns_name) if secret else f"{dns_name}: no Secret"
        if problem:
            errors.append(problem)
    return errors


def single_runs(work: Path, pebble: PebbleServer, bind: BindServer, challenge: str, runs: int, gap: float,
                extra: list[str]) -> DaemonRun:
    tag = nonce()
    names = {f"cert-{i}": f"single-{i}-{tag}.example.test" for i in range(runs)}
    with daemon_for(work, f"single-{challenge}", pebble, bind, challenge, extra) as (store, daemon):
        timeline = Timeline(store)
        time.sleep(gap)  # the daemon's start-up sweep is over: it is idle
        requests = RequestCount(pebble)
        cpu = daemon.cpu_seconds()
        times = []
        for i, (cert, dns_name) in enumerate(names.items()):
            timeline.applying(cert)
            store.create(certificate(i, dns_name))
            timeline.wait_ready({cert}, 60)
            times.append(timeline.since_apply(cert, "ready") or 0.0)
            time.sleep(gap)  # the previous run's clean-up (Challenge deleted, key Secret removed) done
        cpu = daemon.cpu_seconds() - cpu
        timeline.close()
        errors = check_secrets(store, names)
    return DaemonRun(challenge, times, sum(times), min(times), cpu, stage_table(timeline, list(names)), errors,
                     requests.counts())


_SYNC = re.compile(r'^certmanager_controller_sync_call_count(?:_total)?\{controller="([^"]+)"\} (\S+)$', re.M)


def sync_counts(url: str | None) -> dict[str, float]:
    """The daemon's reconciles so far, per controller, from its /metrics."""
    if url is None:
        return {}
    text = http_requests.get(url, timeout=10).text
    return {name: float(value) for name, value in _SYNC.findall(text)}


def batch_run(work: Path, pebble: PebbleServer, bind: BindServer, challenge: str, count: int,
              extra: list[str], sample: Path | None, syncs: bool) -> DaemonRun:
    tag = nonce()
    names = {f"cert-{i}": f"batch-{i}-{tag}.example.test" for i in range(count)}
    metrics = None
    if syncs:
        port = free_port()
        extra = [*extra, "--metrics-listen-address", f"127.0.0.1:{port}"]
        metrics = f"http://127.0.0.1:{port}/metrics"
    with daemon_for(work, f"batch-{challenge}", pebble, bind, challenge, extra) as (store, daemon):
        before = sync_counts(metrics)
        timeline = Timeline(store)
        certs = [certificate(i, dns_name) for i, dns_name in enumerate(names.values())]
        requests = RequestCount(pebble)
        with sampled(daemon.proc.pid, sample / f"batch-{challenge}.txt" if sample else None):
            cpu = daemon.cpu_seconds()
            start = time.perf_counter()
            for cert in certs:
                timeline.applying(cert.name)
                store.create(cert)
            timeline.wait_ready(set(names), max(120.0, count * 2.0))
            total = time.perf_counter() - start
            cpu = daemon.cpu_seconds() - cpu
        after = sync_counts(metrics)
        timeline.close()
        errors = check_secrets(store, names)
    times = [timeline.since_apply(n, "ready") or 0.0 for n in names]
    first = min(timeline.seen[n]["ready"] for n in names) - start
    return DaemonRun(challenge, times, total, first, cpu, stage_table(timeline, list(names)), errors,
                     requests.counts(), {k: v - before.get(k, 0.0) for k, v in after.items()})


# -- the floor: the bare acme library ---------------------------------------------------------

class Responder:
    """The smallest HTTP-01 responder: a dict of token -> key authorization, served by one
    thread on the port Pebble's VA dials."""

    def __init__(self, port: int) -> None:
        tokens: dict[str, str] = {}
        self.tokens = tokens

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
                token = self.path.rsplit("/", 1)[-1]
                body = tokens.get(token)
                if not self.path.startswith("/.well-known/acme-challenge/") or body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def poll(fetch: Callable[[], Any], done: Callable[[Any], bool], interval: float, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = fetch()
        if done(got):
            return got
        if time.monotonic() > deadline:
            raise TimeoutError("polling timed out")
        time.sleep(interval)


def bare_acme_loop(pebble: PebbleServer, count: int, interval: float,
                   ) -> tuple[list[float], list[str], collections.Counter[str]]:
    """``count`` certificates one after another with certbot's ``acme`` library alone."""
    account_key = josepy.JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    net = acme_client.ClientNetwork(account_key, alg=josepy.RS256, verify_ssl=str(pebble.ca_bundle_path),
                                    user_agent="floor")
    client = acme_client.ClientV2(acme_client.ClientV2.get_directory(pebble.directory_url, net), net)
    net.account = client.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
    responder = Responder(pebble.http_port)
    requests = RequestCount(pebble)
    tag = nonce()
    times, errors = [], []
    try:
        for i in range(count):
            name = f"floor-{i}-{tag}.example.test"
            start = time.perf_counter()
            key = ec.generate_private_key(ec.SECP256R1())
            key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
            orderr = client.new_order(acme_crypto.make_csr(key_pem, [name]))
            for authzr in orderr.authorizations:
                challb = next(ch for ch in authzr.body.challenges if isinstance(ch.chall, acme_challenges.HTTP01))
                response, validation = challb.response_and_validation(account_key)
                responder.tokens[challb.chall.encode("token")] = validation
                client.answer_challenge(challb, response)
                authz = poll(lambda a=authzr: client.poll(a)[0],
                             lambda a: a.body.status != messages.STATUS_PENDING, interval)
                if authz.body.status != messages.STATUS_VALID:
                    raise RuntimeError(f"{name}: authorization {authz.body.status}")
            orderr = client.begin_finalization(orderr)
            order = poll(lambda u=orderr.uri: messages.Order.from_json(client._post_as_get(u).json()),
                         lambda o: o.status in (messages.STATUS_VALID, messages.STATUS_INVALID), interval)
            if order.status != messages.STATUS_VALID:
                raise RuntimeError(f"{name}: order {order.status}")
            chain = client._post_as_get(order.certificate).text
            elapsed = time.perf_counter() - start
            problem = check_leaf(chain.encode(), name)
            if problem:
                errors.append(problem)
            else:
                times.append(elapsed)
    finally:
        responder.close()
    return times, errors, requests.counts()


# -- the run --------------------------------------------------------------------------------

def summary(values: list[float]) -> str:
    return (f"p50 {percentile(values, 50):.3f} s, p90 {percentile(values, 90):.3f} s, "
            f"max {max(values):.3f} s, min {min(values):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=7, help="single runs per challenge type")
    parser.add_argument("--single-challenge", choices=["http-01", "dns-01", "both"], default="both")
    parser.add_argument("--gap", type=float, default=1.0,
                        help="seconds between single runs (the daemon's follow-up work of the last one)")
    parser.add_argument("--count", type=int, default=100, help="the batch, and the floor loop's count")
    parser.add_argument("--floor-poll", type=float, default=0.005, help="the bare loop's poll interval, s")
    parser.add_argument("--peer-count", type=int, default=3, help="certbot processes (HTTP-01); 0: none")
    parser.add_argument("--parts", default="single,batch,floor,certbot", help="comma-separated subset")
    parser.add_argument("--daemon-arg", action="append", default=[], help="passed to certkeeper run")
    parser.add_argument("--syncs", action="store_true",
                        help="serve the batch daemon's /metrics and print its reconciles per controller")
    parser.add_argument("--sample", type=Path, default=None,
                        help="sample the batch's daemon with py-spy (GIL holders); files in this folder")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (daemon logs) and print it")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    singles = ("http-01", "dns-01") if args.single_challenge == "both" else (args.single_challenge,)
    work = Path(tempfile.mkdtemp(prefix="certkeeper-acme-latency-"))
    load_start = os.getloadavg()
    lines: list[str] = []
    try:
        with peers(work, 0, tools=("certkeeper", "floor", "certbot")) as (bind, pebbles):
            single: list[DaemonRun] = []
            if "single" in parts:
                single = [single_runs(work, pebbles["certkeeper"], bind, ch, args.single, args.gap,
                                      args.daemon_arg) for ch in singles]
            batch = None
            if "batch" in parts:
                batch = batch_run(work, pebbles["certkeeper"], bind, "http-01", args.count, args.daemon_arg,
                                  args.sample, args.syncs)
            floor: tuple[list[float], list[str], collections.Counter[str]] | None = None
            if "floor" in parts:
                start = time.perf_counter()
                floor = bare_acme_loop(pebbles["floor"], args.count, args.floor_poll)
                floor_total = time.perf_counter() - start
            certbot = None
            if "certbot" in parts and args.peer_count:
                certbot = bench_certbot(work, pebbles["certbot"], bind, ("http-01",), args.peer_count)[0]
        load_end = os.getloadavg()
        lines.append(f"date (UTC)   : {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}")
        lines.append(f"load average : {' '.join(f'{x:.2f}' for x in load_start)} at the start, "
                     f"{' '.join(f'{x:.2f}' for x in load_end)} at the end")
        lines.append("pebble       : PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 PEBBLE_WFE_NONCEREJECT=0")
        for run in single:
            lines.append("")
            lines.append(f"single certificate, {run.challenge}: median {statistics.median(run.times):.3f} s over "
                         f"{len(run.times)} runs (target < 1 s: "
                         f"{'met' if statistics.median(run.times) < 1.0 else 'not met'}); runs: "
                         + " ".join(f"{t:.3f}" for t in run.times))
            lines.append(f"  daemon CPU over the runs {run.cpu:.2f} s ({run.cpu / len(run.times) * 1000:.0f} ms "
                         "per certificate, the gaps included); stages since the apply:")
            lines.append(run.stages)
            lines.append(f"  ACME requests: {per_certificate(run.requests, len(run.times))}")
            lines += [f"  failed: {e}" for e in run.errors[:5]]
        if batch is not None:
            lines.append("")
            lines.append(f"batch of {len(batch.times)}, {batch.challenge}: whole batch {batch.total:.2f} s; "
                         f"time to Ready {summary(batch.times)}; first Ready after {batch.first:.2f} s")
            lines.append(f"  daemon CPU during the batch {batch.cpu:.2f} s "
                         f"({batch.cpu / len(batch.times) * 1000:.0f} ms per certificate, "
                         f"{100 * batch.cpu / batch.total:.0f} % of one core); stages since each apply:")
            lines.append(batch.stages)
            lines.append(f"  ACME requests: {per_certificate(batch.requests, len(batch.times))}")
            if batch.syncs:
                n = len(batch.times)
                lines.append(f"  reconciles: {sum(batch.syncs.values()) / n:.1f} per certificate ("
                             + ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(batch.syncs.items(), key=lambda kv: -kv[1])
                                         if v) + ")")
            lines += [f"  failed: {e}" for e in batch.errors[:5]]
        if floor is not None:
            floor_times, floor_errors, floor_requests = floor
            lines.append("")
            lines.append(f"floor, bare acme library, {len(floor_times)}/{args.count} one after another "
                         f"(poll every {args.floor_poll * 1000:g} ms): total {floor_total:.2f} s; "
                         f"per certificate {summary(floor_times)}")
            lines.append(f"  ACME requests: {per_certificate(floor_requests, args.count)}")
            lines += [f"  failed: {e}" for e in floor_errors[:5]]
            if batch is not None:
                ratio = batch.total / floor_total
                met = ratio <= 3.0 and not batch.errors
                lines.append(f"batch / floor: {batch.total:.2f} s / {floor_total:.2f} s = {ratio:.2f}x "
                             f"(target <= 3x: {'met' if met else 'not met'})")
        if certbot is not None:
            lines.append("")
            lines.append(f"certbot (Debian) http-01, {certbot.issued}/{certbot.attempted} processes: median "
                         f"{certbot.per_cert:.2f} s per certificate; all: " + " ".join(f"{t:.2f}" for t in certbot.times))
            lines += [f"  failed: {e}" for e in certbot.errors[:5]]
        print("\n".join(lines))
        if args.sample is not None and batch is not None:
            summarize_samples(args.sample / f"batch-{batch.challenge}.txt")
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
