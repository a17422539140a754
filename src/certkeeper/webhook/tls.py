"""The webhook's serving certificate, picked up again whenever it changes.

The server asks for the current ``ssl.SSLContext`` for every new connection, so a renewed
certificate is served from the next connection on, without a restart and without
dropping the connections in flight. TLS 1.2 is the oldest version offered (the API
server speaks 1.2 and 1.3).
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Protocol

log = logging.getLogger("certkeeper.webhook")


class CertificateSource(Protocol):
    def context(self) -> ssl.SSLContext:
        """The context for a new connection, with the current certificate."""
        ...


def server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A TLS 1.2+ server context from PEM bytes (the ssl module loads key pairs from
    files only: a private folder that exists for the duration of the call)."""
    with tempfile.TemporaryDirectory(prefix="certkeeper-tls-") as d:
        cert, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        for path, data in ((cert, cert_pem), (key, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        return file_context(Path(cert), Path(key))


def file_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class FileCertificate:
    """``--tls-cert-file`` / ``--tls-private-key-file``: re-read when either file changes
    (a kubelet-mounted Secret swaps a symlink; cert-manager's Secret update rewrites it).

    A pair that does not load (one file written, the other not yet) keeps the previous
    context until the next change makes a matching pair."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert, self.key = cert, key
        self._lock = threading.Lock()
        self._stamp = (_stamp(cert), _stamp(key))
        self._ctx = file_context(cert, key)  # a bad pair at start-up is an error for the caller
        self.loads = 1

    def context(self) -> ssl.SSLContext:
        try:
            stamp = (_stamp(self.cert), _stamp(self.key))
        except OSError as e:
            log.warning("cannot stat the serving certificate: %s; serving the previous one", e)
            return self._ctx
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._ctx = file_context(self.cert, self.key)
                    self.loads += 1
                    log.info("loaded the serving certificate from %s again", self.cert)
                except (OSError, ssl.SSLError, ValueError) as e:
                    log.warning("the serving certificate in %s does not load (%s); serving the previous one",
                                self.cert, e)
                self._stamp = stamp
            return self._ctx
