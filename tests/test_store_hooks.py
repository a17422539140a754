"""The post-renewal hook: environment, exit status, bounded output, timeouts."""

from __future__ import annotations

import os
import time
from pathlib import Path

from certkeeper.store.hooks import OUTPUT_LIMIT, hook_env, run_hook


def test_hook_sees_certkeeper_environment(tmp_path: Path) -> None:
    env = hook_env("default", "web", "web-tls", tmp_path / "default" / "web-tls")
    res = run_hook(
        'printf "%s|%s|%s|%s|%s" "$CERTKEEPER_NAMESPACE" "$CERTKEEPER_CERTIFICATE" '
        '"$CERTKEEPER_SECRET" "$CERTKEEPER_DIR" "${PATH:+has-path}"',
        env,
    )
    assert res.ok and res.exit_code == 0 and not res.timed_out
    assert res.output == f"default|web|web-tls|{tmp_path}/default/web-tls|has-path"


def test_failing_hook_returns_status_and_output() -> None:
    res = run_hook("echo reloading; echo 'nginx: bad config' >&2; exit 3", {})
    assert not res.ok
    assert res.exit_code == res.returncode == 3
    assert res.output == "reloading\nnginx: bad config\n"
    missing = run_hook("certkeeper-no-such-command-xyz", {})
    assert missing.exit_code == 127


def test_output_is_truncated_to_its_tail() -> None:
    res = run_hook(
        "i=0; while [ $i -lt 5000 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done", {}
    )
    assert res.ok
    assert res.output.startswith("[... output truncated ...]")
    assert res.output.endswith("line-4999-padding-padding-padding\n")
    assert len(res.output.encode()) <= OUTPUT_LIMIT + 64


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()
    res = run_hook(f"sleep 60 & echo $! > {pidfile}; echo started; wait", {}, timeout=0.5)
    assert time.monotonic() - start < 20
    assert res.timed_out and not res.ok
    assert res.output == "started\n"
    assert res.error is not None and "timed out" in res.error
    child = int(pidfile.read_text())
    # the background child was in the group: it gets the signal (it may linger as a zombie
    # until its new parent reaps it, but it no longer runs)
    deadline = time.monotonic() + 10
    state = "R"
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            state = "gone"
        if state in ("gone", "Z", "X"):
            break
        os.sched_yield()
    assert state in ("gone", "Z", "X")
