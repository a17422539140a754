"""Benchmark: ACME certificates through the daemon beside certbot and lego, on Pebble.

    python bench/acme_issuance.py                      # 100 through the daemon, 5 per peer tool
    python bench/acme_issuance.py --count 100 --peer-count 5 --nonce-reject 5

One run starts one BIND (example.test, TSIG updates) and one Pebble per tool (certkeeper,
certbot, lego), because Pebble's VA dials a single HTTP-01 port per server and each tool
answers HTTP-01 itself. Every Pebble runs with PEBBLE_VA_NOSLEEP=1, PEBBLE_AUTHZREUSE=0 and
PEBBLE_WFE_NONCEREJECT=0 (or ``--nonce-reject``), and resolves through the BIND.

Every certificate is the same kind: an ECDSA P-256 key and one DNS name,
``<tool>-<i>-<nonce>.example.test``, unique per run so no authorization is reused.

- certkeeper: the real ``python -m certkeeper run`` process on a fresh SQLite store (one per
  challenge type); the ACME Issuer (and the TSIG Secret for DNS-01) is applied and Ready
  before the clock starts; then all ``--count`` Certificates are created at once and the
  clock stops when the last one is Ready (seen through the store's watch). Per certificate
  = batch time / count.
- certbot and lego: ``--peer-count`` sequential issuances each, every one a whole process
  timed by wall clock, after an account was registered (certbot ``register``; lego one
  unmeasured warm-up ``run``) and kept in the tool's state folder. Per certificate = median.

Each issued certificate is decoded and checked (P-256 key, the one name) before it counts.
Everything is bounded: each peer process has a timeout, the batch has a deadline, and every
process started here is stopped (its process group) on the way out.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import pstats
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.daemons import free_listen_flags  # noqa: E402
from tests.peers import BindServer, PebbleServer, find_binary  # noqa: E402

from certkeeper.api.certificate import Certificate  # noqa: E402
from certkeeper.api.core import Secret  # noqa: E402
from certkeeper.api.issuer import Issuer  # noqa: E402
from certkeeper.api.meta import get_condition  # noqa: E402
from certkeeper.store.base import WatchEvent  # noqa: E402
from certkeeper.store.sqlite import SqliteStore  # noqa: E402

NAMESPACE = "bench"
PEER_TIMEOUT = 120.0
"""Seconds one certbot or lego process may take before it is killed and counted as failed."""
CHALLENGES = ("http-01", "dns-01")


@dataclasses.dataclass
class Result:
    tool: str
    challenge: str
    attempted: int
    issued: int
    total: float
    """Seconds: the batch (certkeeper) or the sum of the processes (peers)."""
    per_cert: float
    """Seconds: batch / count (certkeeper) or the median process (peers)."""
    times: list[float] = dataclasses.field(default_factory=list)
    first_ready: float | None = None
    peak_rss_kb: int | None = None
    cpu: float | None = None
    """Seconds of CPU (user + system) the daemon spent during the batch."""
    errors: list[str] = dataclasses.field(default_factory=list)


# -- process handling ------------------------------------------------------------------

def kill_group(proc: subprocess.Popen[Any]) -> None:
    """Stop a process started with ``start_new_session`` and everything it started."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_timed(command: list[str], env: dict[str, str], log: Path, timeout: float = PEER_TIMEOUT) -> tuple[float, int]:
    """Wall-clock seconds and exit code of one whole process (killed at ``timeout``)."""
    with log.open("ab") as out:
        out.write(("$ " + " ".join(command) + "\n").encode())
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            code = -1
        finally:
            kill_group(proc)
        return time.perf_counter() - start, code


def check_leaf(pem: bytes, name: str) -> str | None:
    """Why the first certificate of ``pem`` is not an ECDSA P-256 leaf for ``name`` alone."""
    try:
        cert = x509.load_pem_x509_certificates(pem)[0]
    except ValueError as e:
        return f"{name}: unreadable certificate ({e})"
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return f"{name}: key is not ECDSA P-256"
    try:
        dns_names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
    except x509.ExtensionNotFound:
        return f"{name}: no subjectAltName"
    if dns_names != [name]:
        return f"{name}: SANs are {dns_names}"
    return None


def nonce() -> str:
    return secrets.token_hex(3)


# -- certkeeper -------------------------------------------------------------------------

PROFILED_RUN = """
import cProfile, os, runpy, sys, threading, time  # noqa: E401
profilers = []
original_run = threading.Thread.run
def run(self):
    profiler = cProfile.Profile(time.thread_time)
    profilers.append(profiler)
    profiler.enable()
    try:
        original_run(self)
    finally:
        profiler.disable()
threading.Thread.run = run
main = cProfile.Profile(time.thread_time)
profilers.append(main)
sys.argv = ["certkeeper", *sys.argv[2:]]
main.enable()
try:
    runpy.run_module("certkeeper", run_name="__main__")
except SystemExit:
    pass
finally:
    main.disable()
    for i, profiler in enumerate(profilers):
        profiler.dump_stats(os.path.join("{OUT}", f"thread-{i}.prof"))
"""
"""``certkeeper run`` with every thread under cProfile (cProfile alone sees only the main
thread, and the daemon's work happens in worker threads); one stats file per thread. The
clock is each thread's own CPU time: with the GIL and ~20 threads, wall time would charge
every function for the time it waited its turn."""


class Daemon:
    """``python -m certkeeper run`` on its own store, in its own process group."""

    def __init__(self, store_path: Path, log_path: Path, args: list[str], profile_dir: Path | None = None) -> None:
        env = {**os.environ, "CERTKEEPER_STORE": str(store_path)}
        # the default configuration (metrics and probes on), on ports no other daemon holds
        args = [*args, *free_listen_flags(args)]
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        if profile_dir is None:
            command = [sys.executable, "-m", "certkeeper", "run", *args]
        else:
            profile_dir.mkdir(parents=True, exist_ok=True)
            code = PROFILED_RUN.replace("{OUT}", str(profile_dir))
            command = [sys.executable, "-c", code, "-", "run", *args]
        self.proc = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the daemon so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def status(self, field: str) -> int:
        """A /proc/<pid>/status value in kB (VmHWM peak, VmRSS resident)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def stop(self) -> None:
        kill_group(self.proc)
        self.log.close()


class ReadyWatch:
    """Collects when each watched object first turns Ready, through the store's watch."""

    def __init__(self, store: SqliteStore, kind: type[Certificate] | type[Issuer], names: set[str]) -> None:
        self.kind = kind
        self.pending = set(names)
        self.first: float | None = None
        self.lock = threading.Lock()
        self.done = threading.Event()
        if not names:
            self.done.set()
        self._stop = store.watch(self._on_event)
        for obj in store.list(kind, NAMESPACE):
            self._check(obj)

    def _check(self, obj: Any) -> None:
        cond = get_condition(obj.status.conditions if obj.status else None, "Ready")
        if cond is None or cond.status != "True":
            return
        with self.lock:
            if obj.name in self.pending:
                self.pending.discard(obj.name)
                if self.first is None:
                    self.first = time.perf_counter()
                if not self.pending:
                    self.done.set()

    def _on_event(self, event: WatchEvent) -> None:
        if isinstance(event.obj, self.kind):
            self._check(event.obj)

    def wait(self, timeout: float) -> None:
        try:
            if not self.done.wait(timeout):
                raise TimeoutError(f"{len(self.pending)} {self.kind.KIND}s not Ready after {timeout:.0f}s: "
                                   f"{sorted(self.pending)[:5]}")
        finally:
            self._stop()


def acme_issuer(pebble: PebbleServer, bind: BindServer, challenge: str) -> Issuer:
    solver: dict[str, Any]
    if challenge == "http-01":
        solver = {"http01": {"ingress": {}}}
    else:
        solver = {"dns01": {"rfc2136": {
            "nameserver": bind.address, "tsigKeyName": bind.tsig.name, "tsigAlgorithm": "HMACSHA256",
            "tsigSecretSecretRef": {"name": "tsig", "key": "secret"}}}}
    return Issuer.model_validate({
        "apiVersion": "cert-manager.io/v1", "kind": "Issuer",
        "metadata": {"name": "pebble", "namespace": NAMESPACE},
        "spec": {"acme": {
            "server": pebble.directory_url, "caBundle": pebble.ca_bundle.decode(),
            "email": "bench@example.test", "privateKeySecretRef": {"name": "pebble-account"},
            "solvers": [solver]}},
    })


def certificate(i: int, name: str) -> Certificate:
    return Certificate.model_validate({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": f"cert-{i}", "namespace": NAMESPACE},
        "spec": {"secretName": f"cert-{i}", "dnsNames": [name], "issuerRef": {"name": "pebble"},
                 "privateKey": {"algorithm": "ECDSA", "size": 256}},
    })


@contextmanager
def sampled(pid: int, out: Path | None) -> Iterator[None]:
    """py-spy samples of the threads holding the GIL while the block runs (optional: it
    costs the daemon almost nothing, unlike cProfile, so the figures stay honest)."""
    if out is None:
        yield
        return
    spy = find_binary("py-spy")
    if spy is None:
        raise RuntimeError("--sample needs py-spy (pip install py-spy)")
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--gil", "--rate", "250", "--format", "raw",
                             "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_group(proc)


def summarize_samples(path: Path, lines: int = 30) -> None:
    """Collapsed stacks (py-spy raw) → share of GIL samples per certkeeper function (inclusive)
    and per leaf function (exclusive)."""
    if not path.exists():
        print(f"no samples in {path}")
        return
    inclusive: dict[str, int] = {}
    leaf: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
                  if " (" in f else f for f in stack.split(";")]
        leaf[frames[-1]] = leaf.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    print(f"== py-spy, samples holding the GIL: {total} ({path})")
    print("   inclusive (the function or anything it called):")
    for frame, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:lines]:
        print(f"   {100 * count / total:5.1f} %  {frame}")
    print("   exclusive (the leaf function itself):")
    for frame, count in sorted(leaf.items(), key=lambda kv: -kv[1])[:lines]:
        print(f"   {100 * count / total:5.1f} %  {frame}")


def bench_certkeeper(work: Path, pebble: PebbleServer, bind: BindServer, challenge: str, count: int,
                     max_challenges: int | None, profile: Path | None, sample: Path | None = None) -> Result:
    folder = work / f"certkeeper-{challenge}"
    folder.mkdir()
    store = SqliteStore(folder / "store.db")
    if challenge == "dns-01":
        tsig = Secret.model_validate({"apiVersion": "v1", "kind": "Secret",
                                      "metadata": {"name": "tsig", "namespace": NAMESPACE}})
        tsig.set("secret", bind.tsig.secret.encode())
        store.create(tsig)
    store.create(acme_issuer(pebble, bind, challenge))
    args = ["--http01-address", f"127.0.0.1:{pebble.http_port}" if challenge == "http-01" else "",
            "--acme-http01-solver-nameservers", bind.address,
            "--dns01-recursive-nameservers", bind.address]
    if max_challenges:
        args += ["--max-concurrent-challenges", str(max_challenges)]
    daemon = Daemon(folder / "store.db", folder / "daemon.log", args,
                    profile / challenge if profile is not None else None)
    tag = nonce()
    names = {i: f"certkeeper-{i}-{tag}.example.test" for i in range(count)}
    try:
        ReadyWatch(store, Issuer, {"pebble"}).wait(60)
        certs = [certificate(i, names[i]) for i in range(count)]
        watch = ReadyWatch(store, Certificate, {c.name for c in certs})
        with sampled(daemon.proc.pid, sample / f"{challenge}.txt" if sample else None):
            cpu = daemon.cpu_seconds()
            start = time.perf_counter()
            for cert in certs:
                store.create(cert)
            watch.wait(max(120.0, count * 2.0))
            elapsed = time.perf_counter() - start
        cpu = daemon.cpu_seconds() - cpu
        peak = daemon.status("VmHWM")
    finally:
        daemon.stop()
    errors = []
    for i in range(count):
        secret = store.try_get(Secret, NAMESPACE, f"cert-{i}")
        problem = check_leaf(secret.get("tls.crt") or b"", names[i]) if secret else f"{names[i]}: no Secret"
        if problem:
            errors.append(problem)
    store.close()
    assert watch.first is not None
    return Result("certkeeper", challenge, count, count - len(errors), elapsed, elapsed / count,
                  first_ready=watch.first - start, peak_rss_kb=peak, cpu=cpu, errors=errors)


# -- certbot ----------------------------------------------------------------------------

def bench_certbot(work: Path, pebble: PebbleServer, bind: BindServer, challenges: tuple[str, ...],
                  count: int) -> list[Result]:
    certbot = find_binary("certbot")
    if certbot is None:
        raise RuntimeError("certbot is not installed")
    folder = work / "certbot"
    folder.mkdir()
    log = folder / "runs.log"
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(pebble.ca_bundle_path)}
    common = ["--server", pebble.directory_url, "--config-dir", str(folder / "config"),
              "--work-dir", str(folder / "work"), "--logs-dir", str(folder / "logs"),
              "--non-interactive", "--agree-tos", "--register-unsafely-without-email"]
    seconds, code = run_timed([certbot, "register", *common], env, log)
    if code != 0:
        raise RuntimeError(f"certbot register failed ({code}); see {log}")
    ini = folder / "rfc2136.ini"
    ini.touch(mode=0o600)
    ini.write_text(f"dns_rfc2136_server = {bind.host}\ndns_rfc2136_port = {bind.port}\n"
                   f"dns_rfc2136_name = {bind.tsig.name}\ndns_rfc2136_secret = {bind.tsig.secret}\n"
                   "dns_rfc2136_algorithm = HMAC-SHA256\n")
    results = []
    for challenge in challenges:
        if challenge == "http-01":
            plugin = ["--standalone", "--http-01-address", "127.0.0.1", "--http-01-port", str(pebble.http_port)]
        else:
            plugin = ["--dns-rfc2136", "--dns-rfc2136-credentials", str(ini),
                      "--dns-rfc2136-propagation-seconds", "0"]
        tag = nonce()
        times, errors = [], []
        for i in range(count):
            name = f"certbot-{i}-{tag}.example.test"
            seconds, code = run_timed([certbot, "certonly", *plugin, *common, "--key-type", "ecdsa",
                                       "--elliptic-curve", "secp256r1", "-d", name], env, log)
            cert = folder / "config" / "live" / name / "cert.pem"
            problem = f"{name}: certbot exited {code}" if code != 0 else (
                check_leaf(cert.read_bytes(), name) if cert.exists() else f"{name}: no {cert.name}")
            if problem:
                errors.append(problem)
            else:
                times.append(seconds)
        results.append(peer_result("certbot", challenge, count, times, errors))
    return results


# -- lego -------------------------------------------------------------------------------

def bench_lego(work: Path, pebble: PebbleServer, bind: BindServer, challenges: tuple[str, ...],
               count: int) -> list[Result]:
    lego = find_binary("lego")
    if lego is None:
        raise RuntimeError("lego is not installed")
    folder = work / "lego"
    folder.mkdir()
    log = folder / "runs.log"
    env = {**os.environ, "LEGO_CA_CERTIFICATES": str(pebble.ca_bundle_path),
           "REQUESTS_CA_BUNDLE": str(pebble.ca_bundle_path)}
    dns_env = {**env, "RFC2136_NAMESERVER": bind.address, "RFC2136_TSIG_KEY": f"{bind.tsig.name}.",
               "RFC2136_TSIG_SECRET": bind.tsig.secret, "RFC2136_TSIG_ALGORITHM": "hmac-sha256.",
               "RFC2136_PROPAGATION_TIMEOUT": "30", "RFC2136_POLLING_INTERVAL": "1"}
    common = ["--server", pebble.directory_url, "--accept-tos", "--email", "bench@example.test",
              "--path", str(folder / "state"), "--key-type", "ec256"]
    http = ["--http", "--http.port", f"127.0.0.1:{pebble.http_port}"]
    dns = ["--dns", "rfc2136", "--dns.resolvers", bind.address, "--dns.disable-cp"]
    # lego has no separate register command: the first run registers the account (unmeasured)
    warm = f"lego-warmup-{nonce()}.example.test"
    _, code = run_timed([lego, *common, *http, "-d", warm, "run"], env, log)
    if code != 0:
        raise RuntimeError(f"lego warm-up run failed ({code}); see {log}")
    results = []
    for challenge in challenges:
        plugin, plugin_env = (http, env) if challenge == "http-01" else (dns, dns_env)
        tag = nonce()
        times, errors = [], []
        for i in range(count):
            name = f"lego-{i}-{tag}.example.test"
            seconds, code = run_timed([lego, *common, *plugin, "-d", name, "run"], plugin_env, log)
            cert = folder / "state" / "certificates" / f"{name}.crt"
            problem = f"{name}: lego exited {code}" if code != 0 else (
                check_leaf(cert.read_bytes(), name) if cert.exists() else f"{name}: no {cert.name}")
            if problem:
                errors.append(problem)
            else:
                times.append(seconds)
        results.append(peer_result("lego", challenge, count, times, errors))
    return results


def peer_result(tool: str, challenge: str, count: int, times: list[float], errors: list[str]) -> Result:
    median = statistics.median(times) if times else float("nan")
    return Result(tool, challenge, count, len(times), sum(times), median, times=times, errors=errors)


# -- the run ----------------------------------------------------------------------------

@contextmanager
def peers(work: Path, nonce_reject: int, tools: tuple[str, ...] = ("certkeeper", "certbot", "lego"),
          ) -> Iterator[tuple[BindServer, dict[str, PebbleServer]]]:
    """One BIND and one Pebble per tool (Pebble's VA dials one HTTP-01 port per server)."""
    (work / "bind").mkdir()
    bind = BindServer(work / "bind")
    pebbles: dict[str, PebbleServer] = {}
    env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "0", "PEBBLE_WFE_NONCEREJECT": str(nonce_reject)}
    try:
        bind.start()
        for tool in tools:
            (work / f"pebble-{tool}").mkdir()
            pebbles[tool] = PebbleServer(work / f"pebble-{tool}", dns_server=bind.address, env=env)
            pebbles[tool].start()
        yield bind, pebbles
    finally:
        for pebble in pebbles.values():
            pebble.stop()
        bind.stop()


def table(results: list[Result]) -> str:
    base = {r.challenge: r.per_cert for r in results if r.tool == "certkeeper"}
    rows = [("tool", "challenge", "certificates", "total s", "per cert s", "per cert (how)", "ratio vs certkeeper")]
    for r in results:
        how = "batch/count" if r.tool == "certkeeper" else "median process"
        ratio = r.per_cert / base[r.challenge] if r.challenge in base and base[r.challenge] else float("nan")
        rows.append((r.tool, r.challenge, f"{r.issued}/{r.attempted}", f"{r.total:.2f}", f"{r.per_cert:.3f}",
                     how, f"{ratio:.1f}x"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(results: list[Result], args: argparse.Namespace) -> None:
    load = os.getloadavg()
    print(f"date (UTC)        : {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}")
    print(f"machine           : {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
    print(f"load average      : {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (at the end of the run)")
    print(f"pebble            : PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 PEBBLE_WFE_NONCEREJECT={args.nonce_reject}")
    print()
    print(table(results))
    print()
    for r in results:
        if r.tool == "certkeeper":
            print(f"certkeeper {r.challenge}: first certificate Ready after {r.first_ready:.2f} s; daemon CPU "
                  f"during the batch {r.cpu:.2f} s ({100 * (r.cpu or 0) / r.total:.0f} % of one core); "
                  f"daemon peak resident memory (VmHWM) {(r.peak_rss_kb or 0) / 1024:.0f} MB")
        else:
            spread = f"{min(r.times):.2f}-{max(r.times):.2f}" if r.times else "-"
            print(f"{r.tool} {r.challenge}: per-process s min-max {spread}; all: "
                  + " ".join(f"{t:.2f}" for t in r.times))
        for error in r.errors[:5]:
            print(f"  failed: {error}")
    print()
    for challenge in CHALLENGES:
        ck = next((r for r in results if r.tool == "certkeeper" and r.challenge == challenge), None)
        cb = next((r for r in results if r.tool == "certbot" and r.challenge == challenge), None)
        if ck is None or cb is None or not cb.times:
            continue
        third = 3 * cb.per_cert
        met = ck.issued == ck.attempted and ck.total < third
        print(f"target ({challenge}): certkeeper batch of {ck.attempted} ({ck.total:.2f} s) vs certbot's third "
              f"certificate done at (3 x {cb.per_cert:.2f}) {third:.2f} s: {'met' if met else 'not met'}")


def print_profile(folder: Path, lines: int = 25) -> None:
    """All threads' stats merged: where the daemon's time went, by own time and cumulative."""
    files = sorted(str(f) for f in folder.glob("thread-*.prof"))
    if not files:
        print(f"no profile in {folder}")
        return
    stats = pstats.Stats(*files)
    stats.files = []  # type: ignore[attr-defined]  # one header line per thread otherwise
    print(f"== cProfile of the daemon, CPU time per thread, all threads merged ({len(files)} threads): {folder}")
    stats.sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100, help="certificates issued at once through the daemon")
    parser.add_argument("--peer-count", type=int, default=5, help="sequential issuances for certbot and for lego")
    parser.add_argument("--nonce-reject", type=int, default=0,
                        help="PEBBLE_WFE_NONCEREJECT, %% of valid nonces Pebble rejects (its own default is 5)")
    parser.add_argument("--challenge", choices=[*CHALLENGES, "both"], default="both")
    parser.add_argument("--tools", default="certkeeper,certbot,lego", help="comma-separated subset to run")
    parser.add_argument("--max-concurrent-challenges", type=int, default=None,
                        help="passed to certkeeper run (its default is 60)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="run the daemon with every thread under cProfile; stats files in this folder")
    parser.add_argument("--sample", type=Path, default=None,
                        help="sample the daemon with py-spy (GIL holders) during each batch; files in this folder")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) and print its path")
    args = parser.parse_args()
    challenges = CHALLENGES if args.challenge == "both" else (args.challenge,)
    tools = set(args.tools.split(","))
    work = Path(tempfile.mkdtemp(prefix="certkeeper-acme-bench-"))
    results: list[Result] = []
    try:
        with peers(work, args.nonce_reject) as (bind, pebbles):
            if "certkeeper" in tools:
                for challenge in challenges:
                    results.append(bench_certkeeper(work, pebbles["certkeeper"], bind, challenge, args.count,
                                                    args.max_concurrent_challenges, args.profile, args.sample))
            if "certbot" in tools:
                results += bench_certbot(work, pebbles["certbot"], bind, challenges, args.peer_count)
            if "lego" in tools:
                results += bench_lego(work, pebbles["lego"], bind, challenges, args.peer_count)
        report(results, args)
        if args.profile is not None:
            for challenge in challenges:
                print_profile(args.profile / challenge)
        if args.sample is not None:
            for challenge in challenges:
                summarize_samples(args.sample / f"{challenge}.txt")
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
