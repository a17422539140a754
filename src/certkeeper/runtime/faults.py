"""Crash points for tests: the daemon kills itself (SIGKILL) at a named step.

A crash in the middle of a file swap cannot be aimed at from outside (the window is a few
microseconds), so the steps that matter for crash safety are named, and a test starts the
real daemon with ``CERTKEEPER_FAULT_KILL_AT=<step>`` (or ``<step>:<n>`` for the n-th time
the step is reached). The process then dies exactly as a power cut or the OOM killer
would kill it: no handler, no flush. Unset (always, outside tests) it costs one
comparison per step.
"""

from __future__ import annotations

import os
import signal
import threading

ENV = "CERTKEEPER_FAULT_KILL_AT"

_spec = os.environ.get(ENV, "")
_step, _, _nth = _spec.partition(":")
_remaining = int(_nth) if _nth.isdigit() else 1
_lock = threading.Lock()


def fault_point(step: str) -> None:
    """Die here if the environment names this step (and this is its n-th time)."""
    global _remaining  # noqa: PLW0603 - a countdown shared by every thread
    if not _step or step != _step:
        return
    with _lock:
        _remaining -= 1
        if _remaining > 0:
            return
    os.kill(os.getpid(), signal.SIGKILL)
