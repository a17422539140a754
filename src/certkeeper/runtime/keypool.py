"""Private keys for the key manager: RSA made by worker processes, the rest inline.

An RSA-2048 key costs tens of milliseconds of CPU, more than everything else an issuance
does. Made in the controllers' thread it would stall every other reconcile for that long
and leave the second core idle. ``cryptography`` releases the GIL while OpenSSL generates
(two threads of one process use two cores), so threads could spread the work too; but
measured through the daemon, in the same run, worker processes came closer to bare
generation over both cores (1.11x against 1.24x for threads, docs/benchmarks.md): the
controllers' thread holds the GIL through a burst, and a generating thread needs it to
start each key and to hand it back. A process also stops at once when the daemon does
(a thread inside OpenSSL cannot be interrupted, for seconds with a large key), and does
not depend on how a given ``cryptography`` release treats the GIL.

So RSA generation goes to ``certkeeper.pki.keyworker`` processes, as many as this
process may run on, and the key manager is woken when the key is there. ECDSA and
Ed25519 keys cost about 0.02 ms, a tenth of a round trip to a worker (0.2 ms), and are
made inline.

The workers are started on the first RSA key, not before (a daemon issuing only ECDSA
never starts one; the command line never loads this module). They are separate
programs started with fork+exec, so no thread state of the daemon is copied into them,
and each reads its requests from a pipe whose end closes when the daemon exits, however
it exits. ``close`` kills them at once: a key being made at shutdown is not wanted, since
nothing was written to the store for it yet.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import Future
from typing import IO, Protocol

from ..api.certificate import CertificatePrivateKey
from ..pki.errors import PKIError
from ..pki.keys import PrivateKey, adopt_generated_key, generate_private_key, rsa_key_bits

log = logging.getLogger("certkeeper.keypool")

#: the key of the key source in ``Context.services``
SERVICE = "private-keys"
#: a worker process with nothing to do for this long is stopped (a renewal burst restarts it)
IDLE_SECONDS = 120.0
#: requests a worker holds at most: the key it makes and the next one
PIPELINE = 2


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which a container's cpuset narrows)."""
    count = getattr(os, "process_cpu_count", None)  # Python 3.13
    if count is not None:
        return int(count() or 1)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class KeySource(Protocol):
    """Where the key manager gets a new private key for a ``spec.privateKey``.

    A spec that cannot be honoured raises ``PKIError`` at once; the key itself may arrive
    later, in the returned future."""

    def generate(self, spec: CertificatePrivateKey | None) -> Future[PrivateKey]: ...


def generate_inline(spec: CertificatePrivateKey | None) -> Future[PrivateKey]:
    """The key made now, in the calling thread, as a completed future."""
    done: Future[PrivateKey] = Future()
    done.set_result(generate_private_key(spec))
    return done


class InlineKeys:
    """Every key in the calling thread: the controllers stepped by ``Manager.settle`` in
    tests, and a daemon configured without key processes."""

    def generate(self, spec: CertificatePrivateKey | None) -> Future[PrivateKey]:
        return generate_inline(spec)


class KeyWorkerError(Exception):
    """A key worker process failed or went away; the key manager retries with back-off."""


class PooledKeys:
    """RSA keys from worker processes, the others inline."""

    def __init__(self, processes: int | None = None) -> None:
        self.processes = max(1, processes or available_cpus())
        self._jobs: queue.SimpleQueue[tuple[int, Future[PrivateKey]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._closed = False
        #: keys made by the workers (for tests and the log at stop)
        self.made = 0

    def generate(self, spec: CertificatePrivateKey | None) -> Future[PrivateKey]:
        bits = rsa_key_bits(spec)
        if bits is None:
            return generate_inline(spec)
        future: Future[PrivateKey] = Future()
        with self._lock:
            if self._closed:
                raise KeyWorkerError("the key workers are stopped")
            if not self._threads:
                for i in range(self.processes):
                    t = threading.Thread(target=self._serve, name=f"keys-{i}", daemon=True)
                    t.start()
                    self._threads.append(t)
            self._jobs.put((bits, future))
        return future

    def pids(self) -> list[int]:
        """The worker processes running now."""
        with self._lock:
            return [p.pid for p in self._procs]

    def close(self) -> None:
        """Stop every worker now and fail what is still queued."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads, procs = list(self._threads), list(self._procs)
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[1].cancel()
        for _ in threads:
            self._jobs.put(None)
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()
        for t in threads:
            t.join(timeout=5)

    # -- a feeding thread per worker process ----------------------------------------------
    def _next_job(self, block: bool, timeout: float | None) -> tuple[int, Future[PrivateKey]] | None:
        """A queued request (None: stop), raising ``queue.Empty`` when there is none."""
        while True:
            job = self._jobs.get(timeout=timeout) if block else self._jobs.get_nowait()
            if job is None:
                return None
            if self._closed:
                job[1].cancel()
            elif job[1].set_running_or_notify_cancel():
                return job
            # cancelled meanwhile: its Certificate went away or changed

    def _serve(self) -> None:
        """Feed one worker. While the backlog has a request for every worker, the worker
        holds a second one in its pipe: it starts the next key at once instead of idling
        until this thread gets the GIL back to read the last answer."""
        proc: subprocess.Popen[bytes] | None = None
        sent: deque[Future[PrivateKey]] = deque()
        try:
            while True:
                while len(sent) < PIPELINE:
                    if sent and self._jobs.qsize() < self.processes:
                        break  # a small burst is spread over the workers, not queued behind one
                    try:
                        job = self._next_job(block=not sent, timeout=IDLE_SECONDS if proc is not None else None)
                    except queue.Empty:
                        if not sent:
                            self._retire(proc)
                            proc = None
                            continue
                        break
                    if job is None:
                        return
                    bits, future = job
                    try:
                        if proc is None or proc.poll() is not None:
                            proc = self._start()
                        self._send(proc, bits)
                    except (OSError, KeyWorkerError) as e:
                        self._fail([*sent, future], e)
                        sent.clear()
                        self._retire(proc, kill=True)
                        proc = None
                        continue
                    sent.append(future)
                assert proc is not None
                future = sent.popleft()
                try:
                    key = adopt_generated_key(self._receive(proc))
                except (OSError, ValueError, PKIError, KeyWorkerError) as e:
                    # the worker is gone or confused: what it was asked for is lost with it
                    self._fail([future, *sent], e)
                    sent.clear()
                    self._retire(proc, kill=True)
                    proc = None
                else:
                    with self._lock:
                        self.made += 1
                    future.set_result(key)
        finally:
            self._fail(sent, KeyWorkerError("the key workers are stopped"))
            if proc is not None:
                self._retire(proc, kill=True)

    @staticmethod
    def _fail(futures: list[Future[PrivateKey]] | deque[Future[PrivateKey]], error: Exception) -> None:
        for f in futures:
            f.set_exception(error if isinstance(error, KeyWorkerError) else KeyWorkerError(str(error)))

    def _start(self) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._closed:
                raise KeyWorkerError("the key workers are stopped")
            # fork+exec of a fresh interpreter: safe beside the daemon's threads
            proc = subprocess.Popen(
                [sys.executable, "-m", "certkeeper.pki.keyworker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
            )
            self._procs.add(proc)
        log.info("key worker %d started", proc.pid)
        return proc

    @staticmethod
    def _send(proc: subprocess.Popen[bytes], bits: int) -> None:
        stdin: IO[bytes] | None = proc.stdin
        assert stdin is not None
        stdin.write(b"%d\n" % bits)
        stdin.flush()

    @staticmethod
    def _receive(proc: subprocess.Popen[bytes]) -> bytes:
        stdout: IO[bytes] | None = proc.stdout
        assert stdout is not None
        header = stdout.readline()
        if not header:
            raise KeyWorkerError(f"key worker {proc.pid} exited")
        size = int(header)
        pem = stdout.read(size)
        if len(pem) != size:
            raise KeyWorkerError(f"key worker {proc.pid} exited in the middle of a key")
        return pem

    def _retire(self, proc: subprocess.Popen[bytes] | None, kill: bool = False) -> None:
        if proc is None:
            return
        if kill:
            proc.kill()
        elif proc.stdin is not None:
            proc.stdin.close()  # the worker's EOF: it exits
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        with self._lock:
            self._procs.discard(proc)

