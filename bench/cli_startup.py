"""Benchmark: how long the ``certkeeper`` command takes, process start to exit, per verb.

    python bench/cli_startup.py                  # 15 runs of each command
    python bench/cli_startup.py --runs 31 --importtime
    python bench/cli_startup.py --before ../old-checkout/src   # the same verbs of another tree, interleaved

A small host store is made first: a self-signed ClusterIssuer, a CA Certificate, a CA
ClusterIssuer and two leaf Certificates, applied with ``certkeeper apply`` and issued by the
real daemon (``certkeeper run``), which is stopped before the clock starts. Then each
command runs ``--runs`` times, the commands interleaved so that a burst of load on a shared
machine falls on all of them alike: the ``certkeeper`` console script of this interpreter
(what a user types), and ``python -m certkeeper get`` beside it.

Each figure is the median wall time (spawn to exit) and the median CPU time (user + system,
from ``getrusage(RUSAGE_CHILDREN)`` deltas), beside two baselines measured in the same run:
``python -c pass`` (the interpreter's own start) and ``python -c "import click"`` (the
interpreter plus the command-line library). Bytecode is written to a private cache and
warmed up first, as an installed package has it compiled.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 150.0

MANIFESTS = """\
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: selfsigned}
spec: {selfSigned: {}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: bench-ca, namespace: cert-manager}
spec:
  isCA: true
  commonName: bench CA
  secretName: bench-ca
  privateKey: {algorithm: ECDSA, size: 256}
  issuerRef: {name: selfsigned, kind: ClusterIssuer}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: bench-ca}
spec: {ca: {secretName: bench-ca}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: default}
spec:
  secretName: web-tls
  dnsNames: [web.bench.test, www.bench.test]
  privateKey: {algorithm: ECDSA, size: 256}
  issuerRef: {name: bench-ca, kind: ClusterIssuer}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: api, namespace: default}
spec:
  secretName: api-tls
  commonName: api
  usages: [client auth, digital signature]
  privateKey: {algorithm: ECDSA, size: 256}
  issuerRef: {name: bench-ca, kind: ClusterIssuer}
"""

#: (label, argv after the program): what is measured; "web" is Ready when they run
VERBS: list[tuple[str, list[str]]] = [
    ("get certificates", ["get", "certificates"]),
    ("describe certificate web", ["describe", "certificate", "web"]),
    ("status certificate web", ["status", "certificate", "web"]),
    ("wait --for=condition=Ready certificate/web", ["wait", "--for=condition=Ready", "certificate/web"]),
    ("--help", ["--help"]),
    ("version", ["version"]),
]


def console_script() -> Path:
    """The ``certkeeper`` script pip generated beside this interpreter."""
    script = Path(sys.executable).parent / "certkeeper"
    if not script.exists():
        sys.exit(f"no certkeeper script beside {sys.executable}: pip install -e . first")
    return script


def child_env(store: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["CERTKEEPER_STORE"] = str(store)
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def build_store(work: Path, env: dict[str, str]) -> None:
    """Apply the manifests and let the real daemon issue them; stop it before measuring."""
    manifest = work / "store.yaml"
    manifest.write_text(MANIFESTS)
    cmd = [sys.executable, "-m", "certkeeper"]
    subprocess.run([*cmd, "apply", "-f", str(manifest)], env=env, check=True, stdout=subprocess.DEVNULL)
    with open(work / "daemon.log", "wb") as log:
        daemon = subprocess.Popen([*cmd, "run", "--http01-address", "", "--metrics-listen-address", "0",
                                   "--healthz-listen-address", "0"], env=env, stdout=log, stderr=log,
                                  start_new_session=True)
        try:
            subprocess.run([*cmd, "wait", "--for=condition=Ready", "certificate", "--all", "-A", "--timeout", "120s"],
                           env=env, check=True, stdout=subprocess.DEVNULL)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one command, start to exit; a failing command ends the run."""
    cpu = children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
    return wall, children_cpu() - cpu


def importtime(argv: list[str], env: dict[str, str], top: int) -> list[tuple[int, str]]:
    """Where one command's import time goes (``-X importtime``): the modules' own times
    summed by top-level package (``pydantic`` holds pydantic's modules; a model module's
    own time is mostly the building of its pydantic models), in µs."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    by_package: dict[str, int] = {}
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s+(\S+)$", line)
        if m:
            name = m.group(2)
            package = ".".join(name.split(".")[:3]) if name.startswith("certkeeper.") else name.split(".")[0]
            by_package[package] = by_package.get(package, 0) + int(m.group(1))
    return sorted(((us, name) for name, us in by_package.items()), reverse=True)[:top]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (default 15)")
    parser.add_argument("--before", type=Path, metavar="SRC",
                        help="also run each verb with PYTHONPATH=SRC (another checkout's src/), interleaved")
    parser.add_argument("--importtime", action="store_true", help="also print each verb's import time by package")
    args = parser.parse_args()

    script = console_script()
    with tempfile.TemporaryDirectory(prefix="certkeeper-cli-bench-") as tmp:
        work = Path(tmp)
        env = child_env(work / "store.db", work / "pycache")
        print(f"load average before: {load()}")
        build_store(work, env)

        commands: list[tuple[str, list[str], dict[str, str]]] = [
            ("baseline: python -c pass", [sys.executable, "-c", "pass"], env),
            ("baseline: python -c 'import click'", [sys.executable, "-c", "import click"], env),
            *((f"certkeeper {label}", [str(script), *argv], env) for label, argv in VERBS),
            ("python -m certkeeper get certificates", [sys.executable, "-m", "certkeeper", "get", "certificates"], env),
        ]
        if args.before is not None:
            before = {**env, "PYTHONPATH": str(args.before.resolve()), "PYTHONPYCACHEPREFIX": str(work / "pycache-before")}
            commands += [(f"before: certkeeper {label}", [str(script), *argv], before) for label, argv in VERBS]
        for _, argv, cmd_env in commands:  # bytecode written, files in the page cache
            run_once(argv, cmd_env)
        walls: dict[str, list[float]] = {label: [] for label, _, _ in commands}
        cpus: dict[str, list[float]] = {label: [] for label, _, _ in commands}
        for _ in range(args.runs):
            for label, argv, cmd_env in commands:
                wall, cpu = run_once(argv, cmd_env)
                walls[label].append(wall)
                cpus[label].append(cpu)

        base_wall = statistics.median(walls[commands[0][0]]) * 1000
        click_wall = statistics.median(walls[commands[1][0]]) * 1000
        print(f"load average after: {load()}   runs per command: {args.runs}   target: < {TARGET_MS:.0f} ms wall")
        print(f"{'command':62} {'wall ms':>8} {'cpu ms':>7} {'/pass':>6} {'/click':>7}  target")
        for label, _, _ in commands:
            wall = statistics.median(walls[label]) * 1000
            cpu = statistics.median(cpus[label]) * 1000
            verdict = "" if label.startswith("baseline") else ("met" if wall < TARGET_MS else "NOT met")
            print(f"{label:62} {wall:8.1f} {cpu:7.1f} {wall / base_wall:6.1f} {wall / click_wall:7.2f}  {verdict}")

        if args.importtime:
            for label, argv in VERBS[:4]:
                print(f"\nimport time of certkeeper {label} by package (ms, -X importtime, one run):")
                for us, name in importtime(["-m", "certkeeper", *argv], env, 10):
                    print(f"  {us / 1000:7.1f}  {name}")


if __name__ == "__main__":
    main()
