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

The folders certkeeper writes into and removes are only its own. A Secret's folder is
created complete (files, ``..data``, links) under a temporary name and renamed into place,
so a folder without ``..data`` was never certkeeper's; a namespace folder is created with a
``..certkeeper`` marker. A folder that is not certkeeper's is refused (``ForeignFolder``),
never written into and never removed, whatever the Secret's name.

Every temporary name has a fixed length (``..new.<hex>``, ``..removing.<hex>``,
``..link_tmp``), so a 253-character Secret name or key never makes one longer than the
255 bytes a file name may have.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import datetime as dt
import errno
import os
import re
import secrets
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from ..api.core import Secret
from ..runtime.faults import fault_point
from .names import dns1123_label_error, dns1123_subdomain_error, secret_key_error

DATA_LINK = "..data"
#: in a namespace folder: certkeeper created it
MARKER = "..certkeeper"
_DATA_TMP = "..data_tmp"
_LINK_TMP = "..link_tmp"
_NEW_PREFIX = "..new."
_GRAVE_PREFIX = "..removing."
_TS_DIR = re.compile(r"\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+")
#: a key link's temporary name as earlier versions wrote it (cleaned up, never written)
_LEGACY_TMP = re.compile(r"\.\..*\.tmp")
_DIR_MODE = 0o700
_FILE_MODE = 0o600
_MARKER_TEXT = b"This folder is written by certkeeper; its content is replaced at every renewal.\n"


class FilesError(ValueError):
    """A Secret that cannot be projected; ``reason`` is the condition reason a person sees."""

    reason = "WriteFailed"


class ForeignFolder(FilesError):
    """The path holds something certkeeper did not create: it is neither written nor removed."""

    reason = "ForeignFolder"


class InvalidName(FilesError):
    reason = "InvalidName"


@dataclasses.dataclass(frozen=True)
class FileLayout:
    """Who may read a Secret's files: the file mode and the group (None: the daemon's).

    Folders get the matching read and traverse bits, so a group that may read the files
    may also reach them and nobody else may list them."""

    mode: int = _FILE_MODE
    gid: int | None = None

    @property
    def dir_mode(self) -> int:
        bits = _DIR_MODE
        if self.mode & 0o040:
            bits |= 0o050
        if self.mode & 0o004:
            bits |= 0o005
        return bits

    @property
    def owner_gid(self) -> int:
        return self.gid if self.gid is not None else os.getegid()


DEFAULT_LAYOUT = FileLayout()


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


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_libc: ctypes.CDLL | None = None


def _rename_noreplace(src: Path, dst: Path) -> None:
    """``rename`` that fails with EEXIST instead of replacing: renaming a folder onto an
    existing empty folder would otherwise silently take over whatever someone put there."""
    global _libc  # noqa: PLW0603 - loaded once
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fn = getattr(_libc, "renameat2", None)
    if fn is not None:
        rc = fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE)
        if rc == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(err, os.strerror(err), str(dst))
    if os.path.lexists(dst):  # no renameat2 here: check, then rename
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)


class SecretProjector:
    """Keeps ``root/<namespace>/<name>/`` equal to a Secret's data. Callers (one controller
    worker per key) serialise per Secret; work on a namespace folder is locked here."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._ns_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def _ns_lock(self, namespace: str) -> threading.Lock:
        with self._locks_lock:
            return self._ns_locks.setdefault(namespace, threading.Lock())

    # ------------------------------------------------------------------ paths

    def secret_dir(self, namespace: str, name: str) -> Path:
        """The folder of a Secret; raises ValueError for a name that could escape."""
        if err := dns1123_label_error(namespace):
            raise InvalidName(f"invalid namespace {namespace!r}: {err}")
        if err := dns1123_subdomain_error(name):
            raise InvalidName(f"invalid Secret name {name!r}: {err}")
        path = self.root / namespace / name
        for p in (path.parent, path):
            if os.path.islink(p):
                raise ForeignFolder(
                    f"{p} is a symbolic link, not a folder certkeeper created; certkeeper neither writes "
                    "through it nor removes it: remove the link or choose another name"
                )
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        if os.path.commonpath([real_root, real]) != real_root or real == real_root:
            raise InvalidName(f"{path} resolves outside {self.root}")
        return path

    def folder(self, namespace: str, name: str) -> Path:
        """The folder a hook gets as ``CERTKEEPER_DIR`` (same as ``secret_dir``)."""
        return self.secret_dir(namespace, name)

    # ------------------------------------------------------------------ start-up

    def check_root(self) -> list[str]:
        """Make sure the root can be used before anything is projected: a folder (created
        0700 if missing) of the daemon's user, that other users cannot write to, on a
        writable file system. Returns what is usable but worth a warning (a folder its
        group may write to: often a user's own group, made so by a umask of 002)."""
        root = self.root
        try:
            root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        except FileExistsError:
            raise FilesError(f"--secrets-dir {root} exists and is not a directory") from None
        except OSError as e:
            raise FilesError(f"--secrets-dir {root} cannot be created: {e.strerror}") from e
        st = os.stat(root)
        if not stat.S_ISDIR(st.st_mode):
            raise FilesError(f"--secrets-dir {root} is not a directory")
        if st.st_uid != os.geteuid():
            raise FilesError(
                f"--secrets-dir {root} is owned by uid {st.st_uid}, not by uid {os.geteuid()} that certkeeper "
                "runs as; give certkeeper a folder of its own"
            )
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o002:
            raise FilesError(
                f"--secrets-dir {root} is writable by other users (mode {mode:04o}): anyone could plant folders "
                "or links in it; use a folder only certkeeper writes to (0700 or 0711)"
            )
        warnings = []
        if mode & 0o020:
            warnings.append(
                f"--secrets-dir {root} is writable by its group (mode {mode:04o}): members of group {st.st_gid} "
                "could plant folders or links in it; chmod g-w unless that group is certkeeper's user alone"
            )
        probe = root / f"..probe.{secrets.token_hex(8)}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, _FILE_MODE)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise FilesError(f"--secrets-dir {root} is not writable: {e.strerror}") from e
        return warnings

    def clean_leftovers(self) -> None:
        """Remove what a killed writer left (``..new.*``, ``..removing.*``): only the daemon
        that leads may call this, as another one's half-made folder looks the same."""
        if not self.root.is_dir():
            return
        for parent in [self.root, *self._namespace_dirs()]:
            for entry in os.scandir(parent):
                if entry.name.startswith((_NEW_PREFIX, _GRAVE_PREFIX, "..probe.")) and self._mine(entry.path):
                    self._rmtree(Path(entry.path))

    def _namespace_dirs(self) -> Iterator[Path]:
        for entry in os.scandir(self.root):
            if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                path = Path(entry.path)
                if self._namespace_is_ours(path):
                    yield path

    @staticmethod
    def _mine(path: str | os.PathLike[str]) -> bool:
        try:
            return os.lstat(path).st_uid == os.geteuid()
        except FileNotFoundError:
            return False

    @staticmethod
    def _rmtree(path: Path) -> None:
        if os.path.islink(path) or not os.path.isdir(path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        else:
            shutil.rmtree(path, ignore_errors=True)

    # ------------------------------------------------------------------ ownership

    def _namespace_is_ours(self, path: Path) -> bool:
        """A namespace folder is ours if it has the marker, or holds nothing but Secret
        folders of ours (written by an earlier version), or nothing at all."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            return False
        if os.path.lexists(path / MARKER):
            return True
        # empty, nothing can be mixed up in it; else only our own Secret folders
        if not all(self._secret_folder_is_ours(Path(e.path)) for e in os.scandir(path)):
            return False
        self._write_marker(path)  # adopted: from now on the marker says so
        return True

    @staticmethod
    def _secret_folder_is_ours(folder: Path) -> bool:
        """Ours: a real folder of our user with a ``..data`` link to a data folder, or
        (an earlier version's crash) nothing but our own ``..`` leftovers."""
        try:
            st = os.lstat(folder)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            return False
        try:
            return bool(_TS_DIR.fullmatch(os.readlink(folder / DATA_LINK)))
        except OSError:
            pass
        names = os.listdir(folder)
        return bool(names) and all(
            _TS_DIR.fullmatch(n) or n in (_DATA_TMP, _LINK_TMP) or _LEGACY_TMP.fullmatch(n) for n in names
        )

    def _check_folder(self, folder: Path) -> bool:
        """True if the Secret's folder exists and is ours, False if there is none; raises
        ForeignFolder for anything else at that path."""
        try:
            st = os.lstat(folder)
        except FileNotFoundError:
            return False
        if stat.S_ISLNK(st.st_mode):
            raise ForeignFolder(
                f"{folder} is a symbolic link, not a folder certkeeper created; certkeeper neither writes "
                "through it nor removes it: remove the link or choose another secretName"
            )
        if not self._secret_folder_is_ours(folder):
            raise ForeignFolder(
                f"{folder} exists and was not created by certkeeper (it has no {DATA_LINK} link); certkeeper "
                "neither writes into it nor removes it: move it away or choose another secretName"
            )
        return True

    def _ensure_namespace(self, namespace: str, layout: FileLayout) -> Path:
        path = self.root / namespace
        with self._ns_lock(namespace):
            if not os.path.lexists(path):
                if not self.root.exists():
                    self.root.mkdir(mode=_DIR_MODE, parents=True)
                staging = self.root / f"{_NEW_PREFIX}{secrets.token_hex(8)}"
                os.mkdir(staging, _DIR_MODE)
                try:
                    self._write_marker(staging)
                    _rename_noreplace(staging, path)
                except BaseException:
                    self._rmtree(staging)
                    raise
                _fsync_dir(self.root)
            elif os.path.islink(path):
                raise ForeignFolder(f"{path} is a symbolic link, not a namespace folder certkeeper created")
            elif not self._namespace_is_ours(path):
                raise ForeignFolder(
                    f"{path} exists and was not created by certkeeper (no {MARKER} marker); certkeeper does not "
                    "write into it: move it away, or give --secrets-dir a folder of its own"
                )
        if layout.dir_mode & 0o055:
            # other Secrets' groups may need to pass: traverse, never list
            for d in (self.root, path):
                mode = stat.S_IMODE(os.stat(d).st_mode)
                if mode & 0o011 != 0o011:
                    os.chmod(d, mode | 0o011)
        return path

    @staticmethod
    def _write_marker(path: Path) -> None:
        fd = os.open(path / MARKER, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            os.write(fd, _MARKER_TEXT)
        finally:
            os.close(fd)

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
            raise ForeignFolder(f"{folder / DATA_LINK} points to {link!r}, not a data folder")
        return folder / link

    def needs_swap(self, secret: Secret, layout: FileLayout = DEFAULT_LAYOUT) -> bool:
        """Whether projecting ``secret`` would put new files before readers (the renewal
        hook is recorded as pending before that happens). Raises like ``project``."""
        namespace = secret.namespace or "default"
        folder = self.secret_dir(namespace, secret.name)
        files = self._checked_payload(secret, namespace)
        if not self._check_folder(folder):
            return True
        old = self._data_target(folder)
        return old is None or not self._matches(old, files, layout)

    # ------------------------------------------------------------------ write

    @staticmethod
    def _checked_payload(secret: Secret, namespace: str) -> dict[str, bytes]:
        files = _payload(secret)
        for key in files:
            if err := secret_key_error(key):
                raise InvalidName(f"invalid key {key!r} in Secret {namespace}/{secret.name}: {err}")
        return files

    def project(self, secret: Secret, layout: FileLayout = DEFAULT_LAYOUT) -> bool:
        """Make the folder match the Secret. True if anything a reader sees changed."""
        namespace = secret.namespace or "default"
        folder = self.secret_dir(namespace, secret.name)
        files = self._checked_payload(secret, namespace)
        if not self._check_folder(folder):
            self._create(folder, namespace, files, layout)
            return True
        self._ensure_namespace(namespace, layout)
        self._fix_folder(folder, layout)
        old = self._data_target(folder)
        changed = False
        if old is None or not self._matches(old, files, layout):
            self._swap(folder, files, layout)
            changed = True
            fault_point("files-after-swap")
        changed |= self._sync_key_links(folder, set(files))
        self._remove_stale_data_dirs(folder)
        if changed:
            _fsync_dir(folder)
        return changed

    def _create(self, folder: Path, namespace: str, files: dict[str, bytes], layout: FileLayout) -> None:
        """A new Secret folder, complete before it appears under its name."""
        ns_dir = self._ensure_namespace(namespace, layout)
        staging = ns_dir / f"{_NEW_PREFIX}{secrets.token_hex(8)}"
        os.mkdir(staging, _DIR_MODE)
        try:
            self._fix_folder(staging, layout)
            data = self._write_data_dir(staging, files, layout)
            fault_point("files-after-data-dir")
            os.symlink(data.name, staging / DATA_LINK)
            self._sync_key_links(staging, set(files))
            _fsync_dir(staging)
            fault_point("files-before-swap")
            _rename_noreplace(staging, folder)
        except BaseException:
            self._rmtree(staging)
            raise
        _fsync_dir(ns_dir)
        fault_point("files-after-swap")

    def _swap(self, folder: Path, files: dict[str, bytes], layout: FileLayout) -> None:
        new = self._write_data_dir(folder, files, layout)
        tmp = folder / _DATA_TMP
        try:
            fault_point("files-after-data-dir")
            self._unlink_quiet(tmp)
            os.symlink(new.name, tmp)
            fault_point("files-before-swap")
            os.replace(tmp, folder / DATA_LINK)
        except BaseException:
            self._unlink_quiet(tmp)
            self._rmtree(new)
            raise
        _fsync_dir(folder)

    @staticmethod
    def _fix_folder(folder: Path, layout: FileLayout) -> None:
        st = os.lstat(folder)
        if st.st_gid != layout.owner_gid:
            os.chown(folder, -1, layout.owner_gid, follow_symlinks=False)
        if stat.S_IMODE(st.st_mode) != layout.dir_mode:
            os.chmod(folder, layout.dir_mode)

    @staticmethod
    def _matches(data_dir: Path, files: dict[str, bytes], layout: FileLayout) -> bool:
        try:
            present = {p.name for p in data_dir.iterdir()}
            st_dir = os.lstat(data_dir)
        except FileNotFoundError:
            return False
        if present != set(files) or st_dir.st_gid != layout.owner_gid:
            return False
        if stat.S_IMODE(st_dir.st_mode) != layout.dir_mode:
            return False
        for key, content in files.items():
            path = data_dir / key
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != layout.mode:
                return False
            if st.st_gid != layout.owner_gid:
                return False
            if st.st_size != len(content) or path.read_bytes() != content:
                return False
        return True

    def _write_data_dir(self, folder: Path, files: dict[str, bytes], layout: FileLayout) -> Path:
        """A complete, fsynced folder that no reader can see until ``..data`` points at it.
        On any failure (a full disk) the partial folder is removed before the error goes up."""
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
        try:
            self._fill_data_dir(path, files, layout)
        except BaseException:
            self._rmtree(path)
            raise
        return path

    @staticmethod
    def _fill_data_dir(path: Path, files: dict[str, bytes], layout: FileLayout) -> None:
        gid = layout.owner_gid
        for key, content in files.items():
            fd = os.open(path / key, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, _FILE_MODE)
            try:
                if gid != os.fstat(fd).st_gid:
                    os.fchown(fd, -1, gid)
                os.fchmod(fd, layout.mode)  # whatever the umask
                view = memoryview(content)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        if gid != os.lstat(path).st_gid:
            os.chown(path, -1, gid)
        os.chmod(path, layout.dir_mode)
        _fsync_dir(path)

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
            except OSError:
                pass
            if os.path.lexists(link) and not os.path.islink(link):
                raise ForeignFolder(f"{link} is a file certkeeper did not write; it is left as it is")
            tmp = folder / _LINK_TMP
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
            elif entry.name in (_DATA_TMP, _LINK_TMP) or _LEGACY_TMP.fullmatch(entry.name):
                self._unlink_quiet(Path(entry.path))

    # ------------------------------------------------------------------ remove

    def exists(self, namespace: str, name: str) -> bool:
        """Whether a folder of ours is there for this Secret (ForeignFolder if another is)."""
        return self._check_folder(self.secret_dir(namespace, name))

    def remove(self, namespace: str, name: str) -> bool:
        """Remove a Secret's folder; readers see it vanish at once (renamed away first).
        Only a folder certkeeper created is touched (ForeignFolder otherwise); files someone
        else put into it stay, with the folder."""
        folder = self.secret_dir(namespace, name)
        if not self._check_folder(folder):
            return False
        foreign = [n for n in os.listdir(folder) if not self._is_our_entry(folder, n)]
        if foreign:
            # theirs stay: take ours away, the key links first so that readers see them go
            for n in sorted(os.listdir(folder), key=lambda n: n.startswith("..")):
                if n not in foreign:
                    self._rmtree(folder / n)
            raise ForeignFolder(
                f"{folder} holds files certkeeper did not write ({', '.join(sorted(foreign)[:5])}); "
                "certkeeper removed its own and left the folder"
            )
        grave = folder.parent / f"{_GRAVE_PREFIX}{secrets.token_hex(8)}"
        os.rename(folder, grave)
        shutil.rmtree(grave)
        with self._ns_lock(namespace):
            ns_dir = folder.parent
            if os.listdir(ns_dir) == [MARKER]:
                self._unlink_quiet(ns_dir / MARKER)
                with contextlib.suppress(OSError):
                    os.rmdir(ns_dir)
        return True

    @staticmethod
    def _is_our_entry(folder: Path, name: str) -> bool:
        if name in (DATA_LINK, _DATA_TMP, _LINK_TMP) or _TS_DIR.fullmatch(name) or _LEGACY_TMP.fullmatch(name):
            return True
        try:
            return os.readlink(folder / name) == f"{DATA_LINK}/{name}"
        except OSError:
            return False
