"""Host files and the renewal hook as an attacker or an unlucky host would meet them: a
failing hook, forged annotations, folders certkeeper did not create, a planted link, a
full disk, 253-character names, Secrets that are not certificates, and a non-root server
that must read its key. Real controllers, real filesystem, a fake clock."""

from __future__ import annotations

import datetime as dt
import errno
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from certkeeper.api.core import Secret
from certkeeper.cli.events import events_for
from certkeeper.cli.status import certificate_status
from certkeeper.pki.chain import parse_certificates
from certkeeper.pki.keys import decode_private_key, public_keys_equal
from certkeeper.store.files import FileLayout, ForeignFolder, SecretProjector
from certkeeper.store.hooks import HookEnvError, hook_env
from tests.peers import missing_peer

from .harness import CA_SETUP, Harness, leaf_certificate

HOOK = 'printf "%s %s %s %s\\n" "$CERTKEEPER_NAMESPACE" "$CERTKEEPER_CERTIFICATE" "$CERTKEEPER_SECRET" "$CERTKEEPER_DIR" >> "{log}"'


def _events(h: Harness, obj: object) -> list[tuple[str, str, str]]:
    sink = h.manager.ctx.recorder.sink
    assert sink is not None
    sink.flush()
    return [(e.get("type") or "", e.get("reason") or "", e.get("message") or "")
            for e in events_for(h.store, obj.to_dict())]  # type: ignore[attr-defined]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    hs: list[Harness] = []

    def make(**opts: object) -> Harness:
        h = Harness(tmp_path, **opts)
        hs.append(h)
        return h

    yield make  # type: ignore[misc]
    for h in hs:
        h.close()


# --------------------------------------------------------------------- 2. the hook


def test_failing_hook_is_retried_with_backoff_and_shown_until_it_succeeds(tmp_path: Path, harness) -> None:
    """Item 2: a hook that exits non-zero stays pending (in the store), is retried with
    back-off, shows in the condition, `status certificate` and a Warning event."""
    ok = tmp_path / "nginx-is-back"
    log = tmp_path / "hook.log"
    h = harness(secrets_dir=tmp_path / "out", on_renew=f'test -f "{ok}" || {{ echo "nginx: bad config"; exit 3; }}; '
                + HOOK.format(log=log))
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web"))
    h.settle()
    cert = h.cert("web")
    assert h.condition(cert, "Ready")[0] == "True"
    status, reason, message = h.condition(cert, "RenewHookPending")
    assert (status, reason) == ("True", "HookFailed")
    assert "exited with status 3 (attempt 1;" in message and "nginx: bad config" in message
    assert ("Warning", "RenewHookFailed", f"the on-renew hook {message.split('the on-renew hook ', 1)[1]}") in \
        _events(h, cert)
    text = certificate_status(h.store, cert)
    assert "Renewal hook: failing" in text and "exited with status 3" in text

    # back-off: nothing before 10 s, a second attempt at 10 s, then 20 s
    h.advance(dt.timedelta(seconds=9))
    assert "(attempt 1;" in h.condition(h.cert("web"), "RenewHookPending")[2]
    h.advance(dt.timedelta(seconds=1))
    assert "(attempt 2;" in h.condition(h.cert("web"), "RenewHookPending")[2]
    ok.touch()
    h.advance(dt.timedelta(seconds=19))
    assert h.condition(h.cert("web"), "RenewHookPending")[1] == "HookFailed"
    h.advance(dt.timedelta(seconds=1))
    assert h.condition(h.cert("web"), "RenewHookPending")[:2] == ("False", "HookSucceeded")
    web_runs = [line for line in log.read_text().splitlines() if line.split()[1] == "web"]
    assert web_runs == [f"default web web {tmp_path / 'out' / 'default' / 'web'}"]
    assert "Renewal hook: failing" not in certificate_status(h.store, h.cert("web"))


def test_pending_hook_survives_a_restart(tmp_path: Path, harness) -> None:
    """Item 2: the pending hook is in the store, not in memory: a new daemon runs it."""
    log = tmp_path / "hook.log"
    h = harness(secrets_dir=tmp_path / "out", on_renew="exit 1")
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web"))
    h.settle()
    assert h.condition(h.cert("web"), "RenewHookPending")[:2] == ("True", "HookFailed")
    h.close()
    h2 = harness(secrets_dir=tmp_path / "out", on_renew=HOOK.format(log=log))
    h2.settle()
    assert h2.condition(h2.cert("web"), "RenewHookPending")[:2] == ("False", "HookSucceeded")
    assert h2.condition(h2.cert("root-ca"), "RenewHookPending")[:2] == ("False", "HookSucceeded")
    assert sorted(line.split()[1] for line in log.read_text().splitlines()) == ["root-ca", "web"]


# --------------------------------------------------------------------- 3. hook environment


def test_hook_env_comes_from_the_certificate_not_from_forged_annotations(tmp_path: Path, harness) -> None:
    """Item 3: any applied Secret could name a Certificate in its annotation (and a NUL
    in it crashed the projection). The hook runs only for the Secret a Certificate names,
    with the Certificate's own names."""
    log = tmp_path / "hook.log"
    out = tmp_path / "out"
    h = harness(secrets_dir=out, on_renew=HOOK.format(log=log), secrets_selector="files=yes")
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web", secret="web-tls"))
    h.settle()
    log.unlink()
    for name, claimed in (("forged", "web"), ("nul", "web\x00x"), ("newline", "web\nCERTKEEPER_DIR=/etc")):
        s = Secret.new(name, "default")
        s.metadata.annotations = {"cert-manager.io/certificate-name": claimed}
        s.metadata.labels = {"files": "yes"}
        s.set("token", b"abc")
        h.store.create(s)
    errors = h.manager.errors
    h.settle()
    assert h.manager.errors == errors  # no crash of the projection
    for name in ("forged", "nul", "newline"):
        assert (out / "default" / name / "token").read_bytes() == b"abc"
    assert not log.exists()  # none of them is a Certificate's Secret: no hook


@pytest.mark.parametrize(
    ("field", "value"),
    [("namespace", "de\x00fault"), ("certificate", "web\nX=1"), ("secret", "web-tls\x7f"), ("certificate", "Web"),
     ("dir", "/srv/x\x00y")],
)
def test_hook_env_values_are_checked(field: str, value: str) -> None:
    args = {"namespace": "default", "certificate": "web", "secret": "web-tls", "directory": "/srv/certs/default/web"}
    args["directory" if field == "dir" else field] = value
    with pytest.raises(HookEnvError) as e:
        hook_env(**args)
    assert "CERTKEEPER_" in str(e.value)


# --------------------------------------------------------------------- 4. foreign folders


def test_a_foreign_folder_is_neither_written_into_nor_removed(tmp_path: Path, harness) -> None:
    """Item 4: a folder at the Secret's path that certkeeper did not create is refused with
    a condition a person can act on; deleting the Secret leaves it alone."""
    out = tmp_path / "out"
    h = harness(secrets_dir=out)
    h.apply(CA_SETUP)
    h.settle()
    foreign = out / "default" / "web-tls"
    foreign.mkdir()
    (foreign / "server.key").write_bytes(b"someone else's key")
    h.apply(leaf_certificate("web", secret="web-tls"))
    h.settle()
    assert os.listdir(foreign) == ["server.key"]
    cert = h.cert("web")
    status, reason, message = h.condition(cert, "FilesWritten")
    assert (status, reason) == ("False", "ForeignFolder")
    assert str(foreign) in message and "was not created by certkeeper" in message
    assert h.condition(cert, "Ready")[:2] == ("False", "FilesNotWritten")
    assert "Files: not written" in certificate_status(h.store, cert)
    assert ("Warning", "FilesNotWritten", message) in _events(h, cert)

    h.store.delete(Secret, "default", "web-tls")
    h.settle()
    assert (foreign / "server.key").read_bytes() == b"someone else's key"

    # the person moves it away: the files come, Ready comes back
    (foreign / "server.key").unlink()
    foreign.rmdir()
    h.advance(dt.timedelta(minutes=5))
    cert = h.cert("web")
    assert h.condition(cert, "FilesWritten")[:2] == ("True", "Written")
    assert h.condition(cert, "Ready")[:2] == ("True", "Ready")
    assert (foreign / "tls.key").exists()


def test_secrets_dir_etc_deleting_a_secret_never_removes_system_files(tmp_path: Path, harness) -> None:
    """Item 4, the report's case: --secrets-dir /etc, a Secret `private` in namespace
    `ssl`: deleting it removed /etc/ssl/private/server.key."""
    etc = tmp_path / "etc"
    (etc / "ssl" / "private").mkdir(parents=True)
    (etc / "ssl" / "private" / "server.key").write_bytes(b"the host's key")
    (etc / "ssl" / "certs").mkdir()
    h = harness(secrets_dir=etc, secrets_selector="files=yes")
    for name in ("private", "other"):
        s = Secret.new(name, "ssl")
        s.metadata.labels = {"files": "yes"}
        s.set("tls.key", b"x")
        h.store.create(s)
    h.settle()
    assert sorted(os.listdir(etc / "ssl")) == ["certs", "private"]  # nothing mixed into /etc/ssl
    assert os.listdir(etc / "ssl" / "private") == ["server.key"]
    h.store.delete(Secret, "ssl", "private")
    h.settle()
    assert (etc / "ssl" / "private" / "server.key").read_bytes() == b"the host's key"


def test_projector_refuses_foreign_and_symlinked_folders(tmp_path: Path) -> None:
    root = tmp_path / "root"
    proj = SecretProjector(root)
    s = Secret.new("web", "default")
    s.set("tls.crt", b"x")
    proj.project(s)
    (root / "default" / "empty").mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (root / "default" / "link").symlink_to(target)
    for name in ("empty", "link"):
        s2 = Secret.new(name, "default")
        s2.set("tls.crt", b"x")
        with pytest.raises(ForeignFolder):
            proj.project(s2)
        with pytest.raises(ForeignFolder):
            proj.remove("default", name)
    assert os.listdir(target) == [] and os.listdir(root / "default" / "empty") == []
    # a file someone dropped into our folder stays, and so does the folder
    (root / "default" / "web" / "dhparam.pem").write_bytes(b"theirs")
    with pytest.raises(ForeignFolder):
        proj.remove("default", "web")
    assert os.listdir(root / "default" / "web") == ["dhparam.pem"]


# --------------------------------------------------------------------- 5. not written


def test_planted_symlink_makes_files_not_written_and_ready_false(tmp_path: Path, harness) -> None:
    """Item 5: Ready was True while no file was written."""
    out = tmp_path / "out"
    victim = tmp_path / "victim"
    victim.mkdir()
    (out / "default").mkdir(parents=True, mode=0o700)
    (out / "default" / "web").symlink_to(victim)
    h = harness(secrets_dir=out)
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web"))
    h.settle()
    cert = h.cert("web")
    assert h.condition(cert, "FilesWritten")[:2] == ("False", "ForeignFolder")
    assert "symbolic link" in h.condition(cert, "FilesWritten")[2]
    assert h.condition(cert, "Ready")[:2] == ("False", "FilesNotWritten")
    text = certificate_status(h.store, cert)
    assert "Files: not written" in text and "Not Ready because:" in text
    assert os.listdir(victim) == []


def _mount_tmpfs(path: Path, size: str, readonly: bool = False) -> None:
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size},mode=0700" + (",ro" if readonly else "")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        missing_peer(f"cannot mount a tmpfs here (a real small file system is needed): {r.stderr.strip()}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False)


def test_disk_full_leaves_no_partial_folder_and_recovers(tmp_path: Path, harness) -> None:
    """Item 5: a real, full file system (a 256 KiB tmpfs): the Certificate says its files
    are not written, no half-written ``..<timestamp>`` folder is left at any retry, and
    the files come once there is room."""
    out = tmp_path / "out"
    _mount_tmpfs(out, "256k")
    try:
        h = harness(secrets_dir=out)
        h.apply(CA_SETUP)
        h.settle()
        filler = out / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC
        finally:
            os.close(fd)
        h.apply(leaf_certificate("web", dnsNames=[f"n{i}.example.test" for i in range(40)]))
        h.settle()
        for _ in range(3):  # retries on the failure back-off, each failing
            cert = h.cert("web")
            status, reason, message = h.condition(cert, "FilesWritten")
            assert (status, reason) == ("False", "WriteFailed") and "No space left on device" in message
            assert h.condition(cert, "Ready")[:2] == ("False", "FilesNotWritten")
            assert not (out / "default" / "web").exists()
            assert [n for n in os.listdir(out / "default") if n.startswith("..") and n != "..certkeeper"] == []
            h.advance(dt.timedelta(minutes=5))
        filler.unlink()
        h.advance(dt.timedelta(minutes=5))
        cert = h.cert("web")
        assert h.condition(cert, "FilesWritten")[:2] == ("True", "Written")
        assert h.condition(cert, "Ready")[:2] == ("True", "Ready")
        folder = out / "default" / "web"
        key = decode_private_key((folder / "tls.key").read_bytes())
        assert public_keys_equal(parse_certificates((folder / "tls.crt").read_bytes())[0].public_key(), key)
        assert len([n for n in os.listdir(folder) if n.startswith("..2")]) == 1
    finally:
        _umount(out)


def test_disk_full_during_a_swap_keeps_the_old_pair(tmp_path: Path) -> None:
    """Item 5, at the projector: a failing swap removes its partial data folder and the
    old, matching files stay in place."""
    out = tmp_path / "out"
    _mount_tmpfs(out, "64k")
    try:
        proj = SecretProjector(out)
        s = Secret.new("web", "default")
        s.set("tls.crt", b"old-crt")
        s.set("tls.key", b"old-key")
        proj.project(s)
        s2 = Secret.new("web", "default")
        s2.set("tls.crt", b"n" * 200_000)
        s2.set("tls.key", b"new-key")
        with pytest.raises(OSError) as e:
            proj.project(s2)
        assert e.value.errno == errno.ENOSPC
        folder = out / "default" / "web"
        assert (folder / "tls.crt").read_bytes() == b"old-crt" and (folder / "tls.key").read_bytes() == b"old-key"
        assert len([n for n in os.listdir(folder) if n.startswith("..2")]) == 1
    finally:
        _umount(out)


def test_read_only_secrets_dir_fails_the_start_up_check(tmp_path: Path) -> None:
    """Item 5: the daemon checks at start-up that --secrets-dir is usable (as root too:
    a read-only file system refuses root as well)."""
    out = tmp_path / "out"
    _mount_tmpfs(out, "64k", readonly=True)
    try:
        from certkeeper.store.files import FilesError

        with pytest.raises(FilesError, match="is not writable: Read-only file system"):
            SecretProjector(out).check_root()
    finally:
        _umount(out)


def test_start_up_check_refuses_what_cannot_be_a_secrets_dir(tmp_path: Path) -> None:
    from certkeeper.store.files import FilesError

    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(FilesError, match="is not a directory"):
        SecretProjector(a_file).check_root()
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(FilesError, match="writable by other users"):
        SecretProjector(shared).check_root()
    group_writable = tmp_path / "umask-002"
    group_writable.mkdir()
    group_writable.chmod(0o775)
    [warning] = SecretProjector(group_writable).check_root()
    assert "is writable by its group (mode 0775)" in warning
    fresh = tmp_path / "new" / "certs"
    assert SecretProjector(fresh).check_root() == []
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o700


# --------------------------------------------------------------------- 6. long names


def test_longest_valid_names_are_written_updated_and_removed(tmp_path: Path) -> None:
    """Item 6: names of 236-253 characters are valid; the temporary names built from them
    must still fit 255 bytes, or delete fails forever and the key stays on disk."""
    root = tmp_path / "root"
    proj = SecretProjector(root)
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    key = "k" * 253
    assert len(name) == 253
    s = Secret.new(name, "default")
    s.set(key, b"one")
    s.set("tls.key", b"private")
    assert proj.project(s) is True
    s.set(key, b"two")
    s.remove("tls.key")
    s.set("tls.crt", b"cert")
    assert proj.project(s) is True
    folder = root / "default" / name
    assert (folder / key).read_bytes() == b"two" and not (folder / "tls.key").exists()
    assert proj.remove("default", name) is True
    assert not (root / "default").exists()


# --------------------------------------------------------------------- 7. what is written, and for whom


ACME_LIKE = ["letsencrypt-account", "tsig"]


def test_only_the_secrets_of_certificates_are_written_by_default(tmp_path: Path, harness) -> None:
    """Item 7: ACME account keys, TSIG secrets and other Secrets stay in the store."""
    out = tmp_path / "out"
    h = harness(secrets_dir=out)
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web"))
    for name in ACME_LIKE:
        s = Secret.new(name, "default")
        s.set("tls.key" if name != "tsig" else "secret", b"sensitive")
        h.store.create(s)
    h.settle()
    assert sorted(n for n in os.listdir(out / "default") if not n.startswith("..")) == ["root-ca", "web"]


def test_secrets_selector_adds_others_and_unselected_folders_go(tmp_path: Path, harness) -> None:
    out = tmp_path / "out"
    h = harness(secrets_dir=out, secrets_selector="certkeeper.io/files=true")
    s = Secret.new("bundle", "default")
    s.metadata.labels = {"certkeeper.io/files": "true"}
    s.set("ca.crt", b"bundle")
    h.store.create(s)
    h.settle()
    assert (out / "default" / "bundle" / "ca.crt").read_bytes() == b"bundle"
    s = h.get(Secret, "bundle")
    s.metadata.labels = {}
    h.store.update(s)
    h.settle()
    assert not (out / "default" / "bundle").exists()


def _read_as(uid: int, gid: int, path: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "cat", str(path)], capture_output=True,
    )


def test_a_non_root_server_reads_its_key_and_not_the_cas(
    tmp_path: Path, harness, request: pytest.FixtureRequest
) -> None:
    """Item 7: --secrets-group/--secrets-mode and per-Certificate secretTemplate
    annotations; checked by reading the files as another user, as nginx would."""
    if os.geteuid() != 0:
        missing_peer("reading as another user needs root to switch to it")
    # a folder other users can reach (pytest's own are private)
    base = Path(tempfile.mkdtemp(prefix="certkeeper-files-", dir="/tmp"))
    base.chmod(0o711)
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    out = base / "out"
    server_gid = 65534  # the server's group (nogroup)
    h = harness(secrets_dir=out)
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web", secretTemplate={
        "annotations": {"certkeeper.io/secrets-group": str(server_gid), "certkeeper.io/secrets-mode": "0640"},
    }))
    h.settle()
    web, ca = out / "default" / "web", out / "default" / "root-ca"
    st = os.stat(web / "tls.key")
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o640, server_gid)
    r = _read_as(12345, server_gid, web / "tls.key")
    assert r.returncode == 0 and b"PRIVATE KEY" in r.stdout, r.stderr
    r = _read_as(12345, server_gid, ca / "tls.key")
    assert r.returncode != 0 and b"Permission denied" in r.stderr
    r = _read_as(12345, 12345, web / "tls.key")  # another user, not in the group
    assert r.returncode != 0
    assert stat.S_IMODE(os.stat(ca / "tls.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o711  # traverse, never list


def test_daemon_wide_group_and_mode(tmp_path: Path, harness) -> None:
    out = tmp_path / "out"
    h = harness(secrets_dir=out, secrets_group="65534", secrets_mode="0640")
    h.apply(CA_SETUP)
    h.settle()
    st = os.stat(out / "default" / "root-ca" / "tls.key")
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o640, 65534)
    assert stat.S_IMODE(os.stat(out / "default" / "root-ca").st_mode) == 0o750
    assert FileLayout(0o640, 65534).dir_mode == 0o750


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [({"certkeeper.io/secrets-mode": "0666"}, "grants more than reading"),
     ({"certkeeper.io/secrets-mode": "rw"}, "is not an octal file mode"),
     ({"certkeeper.io/secrets-group": "no-such-group-xyz"}, "does not exist on this host")],
)
def test_bad_file_settings_are_refused_with_their_field_path(
    tmp_path: Path, harness, annotations: dict[str, str], expected: str
) -> None:
    h = harness(secrets_dir=tmp_path / "out")
    h.apply(CA_SETUP)
    h.apply(leaf_certificate("web", secretTemplate={"annotations": annotations}))
    h.settle()
    status, reason, message = h.condition(h.cert("web"), "FilesWritten")
    assert (status, reason) == ("False", "InvalidSecretTemplate")
    key = next(iter(annotations))
    assert f"spec.secretTemplate.annotations[{key}]" in message and expected in message
    assert not (tmp_path / "out" / "default" / "web").exists()


def test_files_of_a_deleted_secret_are_removed_once_the_folder_is_writable_again(tmp_path: Path, harness) -> None:
    """Item 6's consequence: a removal that fails is retried, so a deleted Secret's key
    does not stay on disk for good (here the file system is read-only for a while)."""
    out = tmp_path / "out"
    _mount_tmpfs(out, "256k")
    try:
        h = harness(secrets_dir=out, secrets_selector="files=yes")
        s = Secret.new("old-key", "default")
        s.metadata.labels = {"files": "yes"}
        s.set("tls.key", b"private")
        h.store.create(s)
        h.settle()
        assert (out / "default" / "old-key" / "tls.key").read_bytes() == b"private"
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
        h.store.delete(Secret, "default", "old-key")
        h.settle()
        assert (out / "default" / "old-key" / "tls.key").exists()
        h.advance(dt.timedelta(seconds=1))
        assert (out / "default" / "old-key" / "tls.key").exists()
        subprocess.run(["mount", "-o", "remount,rw", str(out)], check=True)
        h.advance(dt.timedelta(seconds=2))
        assert not (out / "default" / "old-key").exists()
    finally:
        _umount(out)
