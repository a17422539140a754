"""Secret files on the host: kubelet layout, atomic swap, modes, no escape from the root."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certkeeper.api.core import Secret
from certkeeper.store.files import DATA_LINK, MARKER, SecretProjector

TS = re.compile(r"\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d{9}")


def issue(cn: str) -> tuple[bytes, bytes]:
    """A real key and self-signed certificate (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def pair_matches(cert_pem: bytes, key_pem: bytes) -> bool:
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, None)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def tls_secret(cert: bytes, key: bytes, name: str = "web-tls", namespace: str = "default") -> Secret:
    s = Secret.new(name, namespace)
    s.type = "kubernetes.io/tls"
    s.set("tls.crt", cert)
    s.set("tls.key", key)
    s.set("ca.crt", cert)
    return s


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "certs"


def test_layout_modes_and_content(root: Path) -> None:
    cert, key = issue("web.example.com")
    proj = SecretProjector(root)
    assert proj.project(tls_secret(cert, key)) is True
    folder = root / "default" / "web-tls"
    assert proj.folder("default", "web-tls") == proj.secret_dir("default", "web-tls") == folder
    data_target = os.readlink(folder / DATA_LINK)
    assert TS.fullmatch(data_target), data_target
    for k in ("tls.crt", "tls.key", "ca.crt"):
        assert os.readlink(folder / k) == f"{DATA_LINK}/{k}"
        st = os.stat(folder / k)
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_uid == os.getuid()
    for d in (root, root / "default", folder, folder / data_target):
        assert stat.S_IMODE(os.lstat(d).st_mode) == 0o700, d
    assert sorted(os.listdir(folder)) == sorted([DATA_LINK, data_target, "tls.crt", "tls.key", "ca.crt"])
    crt = (folder / "tls.crt").read_bytes()
    assert x509.load_pem_x509_certificate(crt).subject.rfc4514_string() == "CN=web.example.com"
    assert pair_matches(crt, (folder / "tls.key").read_bytes())
    assert proj.current("default", "web-tls") == {"tls.crt": cert, "tls.key": key, "ca.crt": cert}


def test_projecting_the_same_data_changes_nothing(root: Path) -> None:
    cert, key = issue("a")
    proj = SecretProjector(root)
    proj.project(tls_secret(cert, key))
    folder = root / "default" / "web-tls"
    before = (sorted(os.listdir(folder)), os.readlink(folder / DATA_LINK))
    s = tls_secret(cert, key)
    s.metadata.labels = {"only": "metadata changed"}
    assert proj.project(s) is False
    assert (sorted(os.listdir(folder)), os.readlink(folder / DATA_LINK)) == before


def test_update_swaps_folder_and_removes_stale_keys(root: Path) -> None:
    proj = SecretProjector(root)
    cert1, key1 = issue("one")
    proj.project(tls_secret(cert1, key1))
    folder = root / "default" / "web-tls"
    old = os.readlink(folder / DATA_LINK)
    cert2, key2 = issue("two")
    s = tls_secret(cert2, key2)
    s.remove("ca.crt")
    s.set("tls-combined.pem", key2 + cert2)
    assert proj.project(s) is True
    new = os.readlink(folder / DATA_LINK)
    assert new != old and not (folder / old).exists()
    assert sorted(os.listdir(folder)) == sorted([DATA_LINK, new, "tls.crt", "tls.key", "tls-combined.pem"])
    assert pair_matches((folder / "tls.crt").read_bytes(), (folder / "tls.key").read_bytes())
    assert (folder / "tls.crt").read_bytes() == cert2


def test_readers_never_see_a_mixed_pair(root: Path) -> None:
    """A reader that resolves ``..data`` once reads a matching pair, whatever the writer
    does meanwhile; after each swap the top-level links give the new pair."""
    pairs = [issue(f"gen-{i}") for i in range(3)]
    proj = SecretProjector(root)
    proj.project(tls_secret(*pairs[0]))
    folder = root / "default" / "web-tls"
    stop = threading.Event()
    stats = {"ok": 0, "vanished": 0, "mixed": 0}

    def reader() -> None:
        while not stop.is_set():
            try:
                fd = os.open(folder / DATA_LINK, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                stats["vanished"] += 1
                continue
            try:
                with (
                    open(os.open("tls.crt", os.O_RDONLY, dir_fd=fd), "rb") as c,
                    open(os.open("tls.key", os.O_RDONLY, dir_fd=fd), "rb") as k,
                ):
                    crt, key = c.read(), k.read()
            except FileNotFoundError:
                stats["vanished"] += 1  # the old folder was removed under us: retry
                continue
            finally:
                os.close(fd)
            if (crt, key) in pairs:
                stats["ok"] += 1
            else:
                stats["mixed"] += 1

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(150):
            cert, key = pairs[(i + 1) % len(pairs)]
            assert proj.project(tls_secret(cert, key)) is True
            assert (folder / "tls.crt").read_bytes() == cert
            assert (folder / "tls.key").read_bytes() == key
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert stats["mixed"] == 0
    assert stats["ok"] > 0
    # only one data folder remains
    assert len([n for n in os.listdir(folder) if TS.fullmatch(n)]) == 1


@pytest.mark.parametrize(
    ("namespace", "name"),
    [
        ("..", "x"),
        ("default", ".."),
        ("default", "../../etc"),
        ("a/b", "x"),
        ("default", "a/b"),
        ("Default", "x"),
    ],
)
def test_names_that_could_escape_are_refused(root: Path, namespace: str, name: str) -> None:
    proj = SecretProjector(root)
    s = Secret.new("placeholder", namespace)
    s.metadata.name = name
    s.set("tls.crt", b"x")
    with pytest.raises(ValueError):
        proj.project(s)
    with pytest.raises(ValueError):
        proj.remove(namespace, name)
    assert not root.exists() or list(root.rglob("*")) == []


@pytest.mark.parametrize("key", ["../../etc/passwd", "a/b", "..data", "..", ".", "..hidden", "with space"])
def test_bad_keys_are_refused(root: Path, key: str) -> None:
    proj = SecretProjector(root)
    s = Secret.new("web-tls", "default")
    s.set(key, b"x")
    with pytest.raises(ValueError):
        proj.project(s)
    assert not (root / "default" / "web-tls").exists()


def test_symlinked_namespace_folder_is_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir()
    (root / "default").symlink_to(outside)
    s = Secret.new("web-tls", "default")
    s.set("tls.crt", b"x")
    with pytest.raises(ValueError):
        SecretProjector(root).project(s)
    assert list(outside.iterdir()) == []


def test_crash_leftovers_are_cleaned_next_time(root: Path) -> None:
    cert, key = issue("a")
    proj = SecretProjector(root)
    proj.project(tls_secret(cert, key))
    folder = root / "default" / "web-tls"
    current = os.readlink(folder / DATA_LINK)
    # a crash after writing the next folder but before the swap, and one mid-swap
    orphan = folder / "..2026_01_01_00_00_00.000000001"
    orphan.mkdir(mode=0o700)
    (orphan / "tls.crt").write_bytes(b"half-written")
    os.symlink(orphan.name, folder / "..data_tmp")
    # a crash after the swap but before the key links were made
    os.unlink(folder / "tls.key")
    assert proj.project(tls_secret(cert, key)) is True  # the missing link came back
    assert os.readlink(folder / DATA_LINK) == current
    assert sorted(os.listdir(folder)) == sorted([DATA_LINK, current, "tls.crt", "tls.key", "ca.crt"])
    assert pair_matches((folder / "tls.crt").read_bytes(), (folder / "tls.key").read_bytes())
    assert proj.project(tls_secret(cert, key)) is False


def test_tampered_file_is_rewritten(root: Path) -> None:
    cert, key = issue("a")
    proj = SecretProjector(root)
    proj.project(tls_secret(cert, key))
    real = root / "default" / "web-tls" / DATA_LINK / "tls.key"
    real.chmod(0o644)
    assert proj.project(tls_secret(cert, key)) is True
    assert stat.S_IMODE(os.stat(root / "default" / "web-tls" / "tls.key").st_mode) == 0o600


def test_remove(root: Path) -> None:
    cert, key = issue("a")
    proj = SecretProjector(root)
    proj.project(tls_secret(cert, key, name="one"))
    proj.project(tls_secret(cert, key, name="two"))
    assert proj.remove("default", "one") is True
    assert not (root / "default" / "one").exists()
    assert sorted(os.listdir(root / "default")) == [MARKER, "two"]
    assert proj.remove("default", "one") is False
    proj.remove("default", "two")
    assert not (root / "default").exists()
    assert proj.current("default", "two") is None
