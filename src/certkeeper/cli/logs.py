"""Log output of the command: one line per record on stderr, as a service manager's
journal and a person at a terminal both read it."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(verbose: int) -> None:
    """INFO (``run``'s default) or DEBUG with ``-v``; replaces earlier handlers so that
    ``-v`` given twice (before and after the verb) never doubles the lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 0 else logging.INFO)
