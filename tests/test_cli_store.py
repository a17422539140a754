"""The store as the `certkeeper` command meets it: a path that names no store, a corrupt,
foreign, read-only or full store. Every case is one clear line and a non-zero exit, never
a traceback, never a new empty store; `apply` writes all of its objects or none."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml

from .daemons import CLI
from .smallfs import fill, remount_read_only, tmpfs

FIVE_ISSUERS = "---\n".join(
    f"apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {{name: issuer-{i}}}\nspec: {{selfSigned: {{}}}}\n"
    for i in range(5)
)

READ_VERBS = [
    ["get", "certificates"],
    ["get", "issuer", "x"],
    ["describe", "certificate", "x"],
    ["status", "certificate", "x"],
    ["wait", "--for=condition=Ready", "certificate/x", "--timeout=1s"],
    ["inspect", "secret", "x"],
    ["delete", "certificate", "x"],
    ["renew", "x"],
    ["approve", "x"],
]


def certkeeper(store: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, timeout=120,
        env={**os.environ, "CERTKEEPER_STORE": str(store)},
    )


def assert_one_clear_error(proc: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "sqlite3." not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for phrase in phrases:
        assert phrase in lines[0], proc.stderr


def stored_names(path: Path) -> list[str]:
    """The names in the objects table, read by a full scan of the table itself (so a
    damaged index cannot hide a row from this check)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return sorted(r[0] for r in conn.execute("SELECT name FROM objects NOT INDEXED"))


# ---------------------------------------------------------------- a path with no store


@pytest.mark.parametrize("verb", READ_VERBS, ids=lambda v: " ".join(v[:2]))
def test_verbs_that_read_never_create_a_store(tmp_path: Path, verb: list[str]) -> None:
    mistyped = tmp_path / "certkeepr" / "store.db"  # the folder does not exist either
    proc = certkeeper(mistyped, *verb)
    assert_one_clear_error(proc, f"no store at {mistyped}")
    assert not mistyped.parent.exists()


def test_verbs_that_read_refuse_a_missing_file_in_an_existing_folder(tmp_path: Path) -> None:
    proc = certkeeper(tmp_path / "typo.db", "get", "certificates")
    assert_one_clear_error(proc, "no store at")
    assert os.listdir(tmp_path) == []


def test_apply_creates_a_store_but_not_its_missing_folders(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "store.db"
    proc = certkeeper(missing, "apply", "-f", "-", stdin=FIVE_ISSUERS)
    assert_one_clear_error(proc, "does not exist")
    assert not missing.parent.exists()

    store = tmp_path / "store.db"
    proc = certkeeper(store, "apply", "-f", "-", stdin=FIVE_ISSUERS)
    assert proc.returncode == 0, proc.stderr
    assert (store.stat().st_mode & 0o777) == 0o600
    assert stored_names(store) == [f"issuer-{i}" for i in range(5)]
    # built under a temporary name and linked into place: nothing else is left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.db"]


# ---------------------------------------------------------------- corrupt or foreign files


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(16384))


def _empty_file(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(4096)


def _foreign_database(path: Path) -> None:
    path.unlink()
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
        conn.execute("INSERT INTO songs VALUES ('a')")


@pytest.mark.parametrize(
    ("damage", "phrase"),
    [
        (_random_bytes, "is corrupt"),
        (_empty_file, "not a certkeeper store"),
        (_truncated, "is corrupt"),
        (_foreign_database, "not a certkeeper store"),
    ],
    ids=["random-bytes", "empty-file", "truncated", "another-programs-database"],
)
def test_a_corrupt_or_foreign_store_is_one_clear_error(tmp_path: Path, damage: object, phrase: str) -> None:
    store = tmp_path / "store.db"
    assert certkeeper(store, "apply", "-f", "-", stdin=FIVE_ISSUERS).returncode == 0
    # a store of some size, so that truncating it cuts into its objects
    secrets = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"s{i}"},
                "stringData": {"k": "v" * 2000}} for i in range(20)]
    assert certkeeper(store, "apply", "-f", "-", stdin=yaml.safe_dump_all(secrets)).returncode == 0
    with contextlib.closing(sqlite3.connect(store)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert callable(damage)
    damage(store)
    before = store.read_bytes()
    for verb in (["get", "issuers"], ["get", "secrets", "-A"], ["describe", "issuer", "issuer-1"],
                 ["apply", "-f", "-"]):
        proc = certkeeper(store, *verb, stdin=FIVE_ISSUERS)
        assert_one_clear_error(proc, str(store), phrase)
    assert store.read_bytes() == before, "a damaged or foreign file must be left as it was"


def _damage_middle_of_key_index(path: Path) -> None:
    """Zero the leaf pages of the objects' key index except its first and last: a store
    that opens, and whose keys sorting first still read and write fine."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        leaves = [r[0] for r in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'sqlite_autoindex_objects_1' AND pagetype = 'leaf' "
            "ORDER BY path"
        )]
    assert len(leaves) >= 3, "the index must span several pages for this test"
    with open(path, "r+b") as f:
        for page in leaves[1:-1]:
            f.seek((page - 1) * page_size)
            f.write(b"\0" * page_size)


def test_apply_on_a_store_corrupt_midway_writes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    filler = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"filler-{i:04d}", "namespace": "m"}}
              for i in range(600)]
    assert certkeeper(store, "apply", "-f", "-", stdin=yaml.safe_dump_all(filler)).returncode == 0
    _damage_middle_of_key_index(store)
    # two objects whose keys sort before the damaged pages, then three among them
    docs = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": n, "namespace": ns}}
            for ns, n in [("a", "first"), ("a", "second"), ("m", "filler-0300x"), ("m", "filler-0301x"),
                          ("m", "filler-0302x")]]
    proc = certkeeper(store, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    assert_one_clear_error(proc, "is corrupt", "nothing was applied")
    assert proc.stdout == ""
    names = stored_names(store)
    assert "first" not in names and "second" not in names, "apply wrote part of its objects"
    assert len(names) == 600


# ---------------------------------------------------------------- read-only and full


def test_a_read_only_store_is_one_clear_error(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", 1024) as fs:
        store = fs / "store.db"
        assert certkeeper(store, "apply", "-f", "-", stdin=FIVE_ISSUERS).returncode == 0
        remount_read_only(fs)
        more = FIVE_ISSUERS.replace("issuer-", "more-")
        assert_one_clear_error(certkeeper(store, "apply", "-f", "-", stdin=more), "read-only")
        assert_one_clear_error(certkeeper(store, "get", "issuers"), "read-only")


def test_a_full_store_is_one_clear_error_and_apply_writes_nothing(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", 256) as fs:
        store = fs / "store.db"
        assert certkeeper(store, "apply", "-f", "-", stdin=FIVE_ISSUERS).returncode == 0
        filler = fill(fs)
        secrets = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"s{i}"},
                    "stringData": {"k": "v" * 3000}} for i in range(5)]
        proc = certkeeper(store, "apply", "-f", "-", stdin=yaml.safe_dump_all(secrets))
        assert_one_clear_error(proc, "no space left on the device")
        assert_one_clear_error(certkeeper(store, "get", "secrets"), "no space left on the device")

        # room for a few objects, not for all: the transaction fails part-way and is undone
        filler.unlink()
        keep = fs / "keep"
        free = os.statvfs(fs).f_bavail * os.statvfs(fs).f_frsize
        keep.write_bytes(b"\0" * max(0, free - 48 * 1024))
        many = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"m{i}"},
                 "stringData": {"k": "v" * 3000}} for i in range(40)]
        proc = certkeeper(store, "apply", "-f", "-", stdin=yaml.safe_dump_all(many))
        assert_one_clear_error(proc, "no space left on the device", "nothing was applied")
        keep.unlink()
        assert stored_names(store) == [f"issuer-{i}" for i in range(5)]
        proc = certkeeper(store, "apply", "-f", "-", stdin=yaml.safe_dump_all(secrets))
        assert proc.returncode == 0, proc.stderr
        assert stored_names(store) == sorted([f"issuer-{i}" for i in range(5)] + [f"s{i}" for i in range(5)])
