"""Where the cluster is and who we are: kubeconfig files and the in-cluster service account.

kubectl's rules: ``--kubeconfig`` names one file; otherwise ``KUBECONFIG`` lists files
(``:``-separated) that are merged, the first file to set a value winning; otherwise
``~/.kube/config``. ``--context`` picks a context, else ``current-context``. Inside a Pod
with none of those, the service account's token and CA are used (``rest.InClusterConfig``).

Written here rather than taken from a client library because those that read kubeconfig
files bring a second object model and 0.5–1 s of imports to every ``certkeeper get``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(Exception):
    """No usable cluster configuration; the message says what is missing and where."""


@dataclasses.dataclass
class ExecPlugin:
    """``users[].user.exec``: a command that prints an ExecCredential (cloud logins)."""

    command: str
    args: list[str]
    env: dict[str, str]
    api_version: str


@dataclasses.dataclass
class ClusterConfig:
    server: str
    ca_data: bytes | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    token: str | None = None
    token_file: str | None = None
    exec_plugin: ExecPlugin | None = None
    #: the context's namespace (or the Pod's), the default for namespaced commands
    namespace: str = "default"
    #: for messages: which file and context this came from
    source: str = ""


def _read_data(entry: dict[str, Any], key: str, base: Path) -> bytes | None:
    data = entry.get(f"{key}-data")
    if data:
        return base64.b64decode(data)
    path = entry.get(key)
    if path:
        p = Path(path)
        if not p.is_absolute():
            p = base / p  # relative paths are relative to the kubeconfig file, as kubectl reads them
        return p.read_bytes()
    return None


def _named(items: list[dict[str, Any]] | None, name: str, what: str, source: str) -> dict[str, Any]:
    for item in items or []:
        if item.get("name") == name:
            return dict(item.get(what) or {})
    raise ConfigError(f'{what} "{name}" not found in {source}')


def _merge(files: list[Path]) -> tuple[dict[str, Any], dict[str, Path]]:
    """Merged kubeconfig and, for each named cluster/user, the file it came from (relative
    paths in it are resolved against that file's folder)."""
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    origin: dict[str, Path] = {}
    for f in files:
        try:
            doc = yaml.safe_load(f.read_text()) or {}
        except FileNotFoundError:
            continue
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read kubeconfig {f}: {e}") from e
        if not isinstance(doc, dict):
            raise ConfigError(f"kubeconfig {f} is not a mapping")
        if "current-context" not in merged and doc.get("current-context"):
            merged["current-context"] = doc["current-context"]
        for section in ("clusters", "users", "contexts"):
            known = {i.get("name") for i in merged[section]}
            for item in doc.get(section) or []:
                if item.get("name") not in known:
                    merged[section].append(item)
                    origin[f"{section}/{item.get('name')}"] = f.parent
    return merged, origin


def kubeconfig_files(explicit: str | None) -> list[Path]:
    if explicit:
        return [Path(explicit).expanduser()]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def load_kubeconfig(explicit: str | None = None, context: str | None = None) -> ClusterConfig:
    files = kubeconfig_files(explicit)
    if explicit and not files[0].exists():
        raise ConfigError(f"kubeconfig {files[0]} does not exist")
    merged, origin = _merge(files)
    source = ", ".join(str(f) for f in files)
    ctx_name = context or merged.get("current-context")
    if not ctx_name:
        raise ConfigError(f"no current-context in {source} (give --context)")
    ctx = _named(merged["contexts"], ctx_name, "context", source)
    cluster_name, user_name = ctx.get("cluster", ""), ctx.get("user", "")
    cluster = _named(merged["clusters"], cluster_name, "cluster", source)
    user = _named(merged["users"], user_name, "user", source) if user_name else {}
    cbase = origin.get(f"clusters/{cluster_name}", Path.cwd())
    ubase = origin.get(f"users/{user_name}", Path.cwd())
    if not cluster.get("server"):
        raise ConfigError(f'cluster "{cluster_name}" in {source} has no server')
    exec_plugin = None
    if user.get("exec"):
        e = user["exec"]
        exec_plugin = ExecPlugin(
            command=e["command"],
            args=list(e.get("args") or []),
            env={i["name"]: i["value"] for i in e.get("env") or []},
            api_version=e.get("apiVersion", "client.authentication.k8s.io/v1"),
        )
    token_file = user.get("tokenFile")
    if token_file and not Path(token_file).is_absolute():
        token_file = str(ubase / token_file)
    return ClusterConfig(
        server=str(cluster["server"]).rstrip("/"),
        ca_data=_read_data(cluster, "certificate-authority", cbase),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name"),
        client_cert_data=_read_data(user, "client-certificate", ubase),
        client_key_data=_read_data(user, "client-key", ubase),
        token=user.get("token"),
        token_file=token_file,
        exec_plugin=exec_plugin,
        namespace=ctx.get("namespace") or "default",
        source=f"context {ctx_name} of {source}",
    )


def in_cluster_config() -> ClusterConfig | None:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    token = SERVICE_ACCOUNT_DIR / "token"
    if not host or not port or not token.exists():
        return None
    if ":" in host:
        host = f"[{host}]"
    ns_file = SERVICE_ACCOUNT_DIR / "namespace"
    return ClusterConfig(
        server=f"https://{host}:{port}",
        ca_data=(SERVICE_ACCOUNT_DIR / "ca.crt").read_bytes(),
        token_file=str(token),
        namespace=ns_file.read_text().strip() if ns_file.exists() else "default",
        source="in-cluster service account",
    )


def load_config(kubeconfig: str | None = None, context: str | None = None) -> ClusterConfig:
    """kubectl's order: an explicit kubeconfig or context, ``KUBECONFIG``, the in-cluster
    service account, then ``~/.kube/config``."""
    if kubeconfig or context or os.environ.get("KUBECONFIG"):
        return load_kubeconfig(kubeconfig, context)
    cfg = in_cluster_config()
    if cfg is not None:
        return cfg
    return load_kubeconfig(None, None)


class TokenSource:
    """The bearer token to send: static, re-read from a file (service-account tokens are
    rotated by the kubelet), or from an exec plugin (cached until it expires)."""

    FILE_REREAD = 60.0

    def __init__(self, cfg: ClusterConfig) -> None:
        self.cfg = cfg
        self._lock = threading.Lock()
        self._token: str | None = cfg.token
        self._expires = float("inf") if cfg.token else 0.0

    def token(self, force: bool = False) -> str | None:
        cfg = self.cfg
        if cfg.token_file is None and cfg.exec_plugin is None:
            return self._token
        with self._lock:
            if force or time.monotonic() >= self._expires:
                if cfg.exec_plugin is not None:
                    self._token, self._expires = self._run_exec(cfg.exec_plugin)
                elif cfg.token_file is not None:
                    self._token = Path(cfg.token_file).read_text().strip()
                    self._expires = time.monotonic() + self.FILE_REREAD
            return self._token

    @staticmethod
    def _run_exec(plugin: ExecPlugin) -> tuple[str, float]:
        env = {**os.environ, **plugin.env}
        env["KUBERNETES_EXEC_INFO"] = json.dumps(
            {"apiVersion": plugin.api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
        )
        try:
            out = subprocess.run(
                [plugin.command, *plugin.args], env=env, capture_output=True, check=True, timeout=60
            ).stdout
            status = json.loads(out)["status"]
        except (OSError, subprocess.SubprocessError, ValueError, KeyError) as e:
            raise ConfigError(f"exec credential plugin {plugin.command} failed: {e}") from e
        token = status.get("token")
        if not token:
            raise ConfigError(f"exec credential plugin {plugin.command} returned no token")
        expires = time.monotonic() + 300.0
        if status.get("expirationTimestamp"):
            from ...api.meta import parse_time

            left = parse_time(status["expirationTimestamp"]).timestamp() - time.time()
            expires = time.monotonic() + max(0.0, left - 10)
        return str(token), expires
