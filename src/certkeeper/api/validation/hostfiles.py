"""certkeeper's own ``secretTemplate`` annotations for the files on a host
(``certkeeper.io/secrets-mode``, ``certkeeper.io/secrets-group``): refused at ``apply``
when they cannot mean anything, so a mistyped mode is a field error, not a Certificate
that later fails to write its files. (Whether a group exists depends on the host that
runs the daemon; the files controller checks that.)"""

from __future__ import annotations

import re

from .errors import FieldError, invalid

ANN_SECRETS_MODE = "certkeeper.io/secrets-mode"
ANN_SECRETS_GROUP = "certkeeper.io/secrets-group"

#: file modes a person may choose: owner read (and write), group read, others read
ALLOWED_MODE_BITS = 0o644
_GROUP = re.compile(r"[0-9]+|[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?")


def secrets_mode_error(text: str) -> str | None:
    """Why an octal file mode cannot be used for key files, or None."""
    if not re.fullmatch(r"0?[0-7]{3}", text.strip()):
        return f"{text!r} is not an octal file mode such as 0640"
    mode = int(text.strip(), 8)
    if mode & ~ALLOWED_MODE_BITS:
        return f"{text!r} grants more than reading to the group or others (allowed: bits of 0644)"
    if not mode & 0o400:
        return f"{text!r} does not let the owner read the files"
    return None


def secrets_group_error(text: str) -> str | None:
    if not _GROUP.fullmatch(text.strip()):
        return f"{text!r} is not a group name or a numeric gid"
    return None


def validate_host_file_annotations(annotations: dict[str, str] | None, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for key, check in ((ANN_SECRETS_MODE, secrets_mode_error), (ANN_SECRETS_GROUP, secrets_group_error)):
        value = (annotations or {}).get(key)
        if value is not None and (err := check(value)):
            errors.append(invalid(f"{path}[{key}]", value, err))
    return errors
