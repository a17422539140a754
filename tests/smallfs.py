"""Real file systems of limited size or read-only, for the store's disk-full and read-only
tests: a tmpfs mounted for the test. Mounting needs root; without it the tests skip."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.peers import missing_peer


@contextlib.contextmanager
def tmpfs(where: Path, size_kb: int) -> Iterator[Path]:
    """A tmpfs of ``size_kb`` KiB mounted at ``where`` for the block's duration."""
    if os.geteuid() != 0:
        missing_peer("mounting a small tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(where)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        missing_peer(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def remount_read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, capture_output=True)


def fill(folder: Path) -> Path:
    """Take every free block of the file system holding ``folder``; remove the file
    returned to give them back."""
    filler = folder / "filler"
    chunk = b"\0" * 4096
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
    return filler
