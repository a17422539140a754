"""Secrets projected to files the way the kubelet projects a Secret volume.

``root/<namespace>/<secret>/<key>`` is a symlink to ``..data/<key>``; ``..data`` is a
symlink to a timestamped folder holding the real files. An update writes a complete new
folder, then swaps ``..data`` with one ``rename``: a reader that resolves ``..data`` once
(nginx and HAProxy reload by re-opening the paths) sees either the old issuance or the
new one, never one's certificate with the other's key.

Names come from resources a user wrote, so every path component is checked against the
rules the API server enforces (DNS-1123 names, Secret key characters) and the final path
must resolve inside the root: a Secret named ``..`` or a key ``../../etc/passwd`` is
refused rather than projected.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import re
import secrets
import shutil
import stat
from pathlib import Path

from ..api.core import Secret
from .names import dns1123_label_error, dns1123_subdomain_error, secret_key_error

DATA_LINK = "..data"
_DATA_TMP = "..data_tmp"
_TS_DIR = re.compile(r"\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+")
_DIR_MODE = 0o700
_FILE_MODE = 0o600


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _payload(secret: Secret) -> dict[str, bytes]:
    """What the kubelet would write: ``data`` plus (unstored) ``stringData`` on top."""
    files = secret.decoded()
    for k, v in (secret.string_data or {}).items():
        files[k] = v.encode()
    return files


class SecretProjector:
    """Keeps ``root/<namespace>/<name>/`` equal to a Secret's data. Not thread-safe for
    the same Secret: callers (one controller worker per key) serialise per Secret."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ paths

    def secret_dir(self, namespace: str, name: str) -> Path:
        """The folder of a Secret; raises ValueError for a name that could escape."""
        if err := dns1123_label_error(namespace):
            raise ValueError(f"invalid namespace {namespace!r}: {err}")
        if err := dns1123_subdomain_error(name):
            raise ValueError(f"invalid Secret name {name!r}: {err}")
        path = self.root / namespace / name
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        if os.path.commonpath([real_root, real]) != real_root or real == real_root:
            raise ValueError(f"{path} resolves outside {self.root}")
        return path

    def folder(self, namespace: str, name: str) -> Path:
        """The folder a hook gets as ``CERTKEEPER_DIR`` (same as ``secret_dir``)."""
        return self.secret_dir(namespace, name)

    def _ensure_dir(self, path: Path) -> None:
        """A private folder of ours: created 0700, and refused if something put a
        symlink or another user's folder there."""
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, _DIR_MODE)
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise ValueError(f"{path} exists and is not a directory")
        if st.st_uid != os.getuid():
            raise PermissionError(f"{path} is owned by uid {st.st_uid}, not by this user")

    # ------------------------------------------------------------------ read

    def current(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """The projected files as of the last completed swap, or None."""
        target = self._data_target(self.secret_dir(namespace, name))
        if target is None:
            return None
        return {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}

    @staticmethod
    def _data_target(folder: Path) -> Path | None:
        try:
            link = os.readlink(folder / DATA_LINK)
        except FileNotFoundError:
            return None
        if not _TS_DIR.fullmatch(link):
            raise ValueError(f"{folder / DATA_LINK} points to {link!r}, not a data folder")
        return folder / link

    # ------------------------------------------------------------------ write

    def project(self, secret: Secret) -> bool:
        """Make the folder match the Secret. True if anything a reader sees changed."""
        namespace = secret.namespace or "default"
        folder = self.secret_dir(namespace, secret.name)
        files = _payload(secret)
        for key in files:
            if err := secret_key_error(key):
                raise ValueError(f"invalid key {key!r} in Secret {namespace}/{secret.name}: {err}")
        if not self.root.exists():
            self.root.mkdir(mode=_DIR_MODE, parents=True)
        self._ensure_dir(folder.parent)
        self._ensure_dir(folder)

        old = self._data_target(folder)
        changed = False
        if old is None or not self._matches(old, files):
            new = self._write_data_dir(folder, files)
            tmp = folder / _DATA_TMP
            self._unlink_quiet(tmp)
            os.symlink(new.name, tmp)
            os.replace(tmp, folder / DATA_LINK)
            _fsync_dir(folder)
            changed = True
        changed |= self._sync_key_links(folder, set(files))
        self._remove_stale_data_dirs(folder)
        if changed:
            _fsync_dir(folder)
        return changed

    @staticmethod
    def _matches(data_dir: Path, files: dict[str, bytes]) -> bool:
        try:
            present = {p.name for p in data_dir.iterdir()}
        except FileNotFoundError:
            return False
        if present != set(files):
            return False
        for key, content in files.items():
            path = data_dir / key
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != _FILE_MODE:
                return False
            if st.st_size != len(content) or path.read_bytes() != content:
                return False
        return True

    @staticmethod
    def _write_data_dir(folder: Path, files: dict[str, bytes]) -> Path:
        """A complete, fsynced folder that no reader can see until ``..data`` points at it."""
        now = dt.datetime.now(dt.UTC)
        stamp = now.strftime("..%Y_%m_%d_%H_%M_%S.")
        for attempt in range(100):
            suffix = f"{now.microsecond * 1000:09d}" if attempt == 0 else f"{secrets.randbelow(10**9):09d}"
            path = folder / (stamp + suffix)
            try:
                os.mkdir(path, _DIR_MODE)
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - a billion-way clash a hundred times
            raise FileExistsError(errno.EEXIST, "cannot create a data folder", str(folder))
        for key, content in files.items():
            fd = os.open(path / key, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, _FILE_MODE)
            try:
                os.fchmod(fd, _FILE_MODE)  # whatever the umask
                view = memoryview(content)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(path)
        return path

    @staticmethod
    def _unlink_quiet(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def _sync_key_links(self, folder: Path, keys: set[str]) -> bool:
        """``<key> -> ..data/<key>`` for every key; links of removed keys go."""
        changed = False
        for key in keys:
            link = folder / key
            want = f"{DATA_LINK}/{key}"
            try:
                if os.readlink(link) == want:
                    continue
            except (FileNotFoundError, OSError):
                pass
            tmp = folder / f"..{key}.tmp"
            self._unlink_quiet(tmp)
            os.symlink(want, tmp)
            os.replace(tmp, link)
            changed = True
        for entry in os.scandir(folder):
            if entry.name.startswith("..") or entry.name in keys or not entry.is_symlink():
                continue
            if os.readlink(entry.path).startswith(DATA_LINK + "/"):
                os.unlink(entry.path)
                changed = True
        return changed

    def _remove_stale_data_dirs(self, folder: Path) -> None:
        """Everything a crash or an earlier swap left: old data folders, temp links."""
        current = os.readlink(folder / DATA_LINK)
        for entry in os.scandir(folder):
            if entry.name == current:
                continue
            if _TS_DIR.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            elif entry.name == _DATA_TMP or (entry.name.startswith("..") and entry.name.endswith(".tmp")):
                self._unlink_quiet(Path(entry.path))

    # ------------------------------------------------------------------ remove

    def remove(self, namespace: str, name: str) -> bool:
        """Remove a Secret's folder; readers see it vanish at once (renamed away first)."""
        folder = self.secret_dir(namespace, name)
        if not os.path.lexists(folder):
            return False
        grave = folder.parent / f"..removing.{name}.{secrets.token_hex(4)}"
        os.rename(folder, grave)
        shutil.rmtree(grave)
        with contextlib.suppress(OSError):
            os.rmdir(folder.parent)  # the namespace folder, once empty
        return True
