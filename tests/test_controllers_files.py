"""Secrets projected to files on the host, and the hook after each renewal, through the
real controllers on a real filesystem."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

from certkeeper.api.core import Secret
from certkeeper.pki.chain import parse_certificates
from certkeeper.pki.keys import decode_private_key, public_keys_equal

from .harness import CA_SETUP, Harness, leaf_certificate

HOOK = 'printf "%s %s %s %s\\n" "$CERTKEEPER_NAMESPACE" "$CERTKEEPER_CERTIFICATE" "$CERTKEEPER_SECRET" "$CERTKEEPER_DIR" >> "{log}"'


def test_files_written_atomically_with_modes_and_hook(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    log = tmp_path / "hook.log"
    h = Harness(tmp_path, secrets_dir=out, on_renew=HOOK.format(log=log))
    try:
        h.apply(CA_SETUP)
        h.apply(leaf_certificate("web", secret="web-tls", duration="24h"))
        h.settle()
        folder = out / "default" / "web-tls"
        secret = h.get(Secret, "web-tls")
        for key in ("tls.crt", "tls.key", "ca.crt"):
            assert (folder / key).read_bytes() == secret.get(key)
            assert stat.S_IMODE((folder / key).stat().st_mode) == 0o600
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert (folder / "..data").is_symlink()
        key = decode_private_key((folder / "tls.key").read_bytes())
        leaf = parse_certificates((folder / "tls.crt").read_bytes())[0]
        assert public_keys_equal(leaf.public_key(), key)
        # the temporary next-key Secret never reaches the disk
        assert sorted(p.name for p in (out / "default").iterdir() if not p.name.startswith("..")) == [
            "root-ca", "web-tls"]

        lines = log.read_text().splitlines()
        assert f"default web web-tls {folder}" in lines
        first_serial = leaf.serial_number

        h.advance(dt.timedelta(hours=17))
        leaf2 = parse_certificates((folder / "tls.crt").read_bytes())[0]
        assert leaf2.serial_number != first_serial
        assert public_keys_equal(leaf2.public_key(), decode_private_key((folder / "tls.key").read_bytes()))
        assert log.read_text().splitlines().count(f"default web web-tls {folder}") == 2
        # exactly one timestamped data folder remains
        assert len([p for p in folder.iterdir() if p.name.startswith("..") and p.is_dir() and not p.is_symlink()]) == 1
    finally:
        h.close()


def test_failing_hook_does_not_stop_the_daemon(tmp_path: Path) -> None:
    h = Harness(tmp_path, secrets_dir=tmp_path / "out", on_renew="exit 3")
    try:
        h.apply(CA_SETUP)
        h.apply(leaf_certificate("web"))
        h.settle()
        assert h.ready("web")[0] == "True"
        assert (tmp_path / "out" / "default" / "web" / "tls.crt").exists()
    finally:
        h.close()


def test_deleted_secret_removes_its_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    h = Harness(tmp_path, secrets_dir=out, secrets_selector="files=yes")
    try:
        h.apply(CA_SETUP)
        h.settle()
        extra = Secret.new("plain", "default")
        extra.metadata.labels = {"files": "yes"}
        extra.set("token", b"abc")
        h.store.create(extra)
        h.settle()
        assert (out / "default" / "plain" / "token").read_bytes() == b"abc"
        h.store.delete(Secret, "default", "plain")
        h.settle()
        assert not (out / "default" / "plain").exists()
    finally:
        h.close()
