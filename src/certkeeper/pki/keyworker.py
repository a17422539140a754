"""A key worker process: ``python -m certkeeper.pki.keyworker``.

RSA generation costs tens of milliseconds of CPU (RSA-2048); a few of these processes
make the daemon's RSA keys on other cores than its controllers' (why processes rather
than threads: ``runtime/keypool.py``). The protocol is one line per request on stdin, an RSA modulus size in bits, answered on
stdout with the key's PKCS#8 PEM behind its length (``<n>\\n<n bytes>``). The worker exits
when stdin closes, which is also what happens when the daemon dies, however it dies: a
worker never outlives it by more than the key it is making.

It imports nothing of certkeeper beyond this module, so it starts in the time it takes to
load ``cryptography``.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import IO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

#: what a request may ask for (the daemon checks the spec before asking)
MIN_BITS = 1024
MAX_BITS = 16384


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """Answer size lines from ``requests`` with framed PEM on ``answers`` until EOF."""
    while line := requests.readline():
        bits = int(line)
        if not MIN_BITS <= bits <= MAX_BITS:
            raise SystemExit(f"key worker: refused a request for {bits} bits")
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        answers.write(b"%d\n" % len(pem) + pem)
        answers.flush()


def main() -> None:
    # Ctrl-C reaches the whole process group: the daemon stops its workers itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(BrokenPipeError):
        serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
