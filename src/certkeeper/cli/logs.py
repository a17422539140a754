"""Log output of the command: one line per record on stderr, as a service manager's
journal and a person at a terminal both read it.

Messages carry names and reasons taken from objects (an issuerRef, a hook's output, an
ACME server's error); a newline or an escape sequence in one of them must not start a
forged line or repaint the terminal, so control characters in the message are escaped.
"""

from __future__ import annotations

import logging
import sys
import unicodedata

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_control(text: str) -> str:
    """``a\\nb`` for a newline, ``\\x1b`` for ESC ...: the text on one visible line."""
    if text.isprintable():
        return text
    return "".join(
        _NAMED.get(ch, f"\\x{ord(ch):02x}") if unicodedata.category(ch) == "Cc" else ch for ch in text
    )


class OneLineFormatter(logging.Formatter):
    """The standard format with the message's control characters escaped (a traceback,
    which the program writes itself, keeps its lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = escape_control(record.message)
        return super().formatMessage(record)


def configure_logging(verbose: int) -> None:
    """INFO (``run``'s default) or DEBUG with ``-v``; replaces earlier handlers so that
    ``-v`` given twice (before and after the verb) never doubles the lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 0 else logging.INFO)
