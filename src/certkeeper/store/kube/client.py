"""A thin client of the Kubernetes API on ``requests``: one keep-alive session, the
kubeconfig's TLS and credentials, client-side rate limits (``--kube-api-qps`` /
``--kube-api-burst``, client-go's token bucket) and the API server's ``Status`` errors
turned into the Store protocol's exceptions.

Why not a Kubernetes client library: certkeeper already has a typed model of every object
it touches; the bodies are decoded once, straight into those models, instead of into a
library's model and then ours (that second decode is what dominates a 10,000-object list).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from ...api.meta import Resource
from ..base import AlreadyExists, Conflict, Forbidden, Invalid, NotFound, StoreError
from ..errors import StoreUnavailable
from .config import ClusterConfig, TokenSource


class Gone(StoreError):
    """410: the resourceVersion a watch asked for is no longer in etcd's history."""


class Unavailable(StoreUnavailable):
    """The API server could not be reached or answered 5xx/429; retried by callers."""


@dataclasses.dataclass(frozen=True)
class GVR:
    """Where a kind lives in the API: ``/apis/<group>/<version>/namespaces/<ns>/<plural>``."""

    group: str
    version: str
    plural: str
    namespaced: bool
    kind: str

    @classmethod
    def of(cls, res: type[Resource]) -> GVR:
        group, _, version = res.API_VERSION.rpartition("/")
        return cls(group, version, res.PLURAL, res.NAMESPACED, res.KIND)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if sub:
                base += f"/{sub}"
        return base


LEASES = GVR("coordination.k8s.io", "v1", "leases", True, "Lease")
EVENTS = GVR("", "v1", "events", True, "Event")


class _TLSAdapter(HTTPAdapter):
    def __init__(self, context: ssl.SSLContext, server_hostname: str | None, **kwargs: Any) -> None:
        self._context = context
        self._server_hostname = server_hostname
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        if self._server_hostname:
            kwargs["server_hostname"] = self._server_hostname
            kwargs["assert_hostname"] = self._server_hostname
        super().init_poolmanager(*args, **kwargs)


def ssl_context(cfg: ClusterConfig) -> ssl.SSLContext:
    if cfg.insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cfg.ca_data:
        ctx = ssl.create_default_context(cadata=cfg.ca_data.decode("ascii", "replace"))
    else:
        ctx = ssl.create_default_context()
    if cfg.client_cert_data and cfg.client_key_data:
        # the ssl module loads key pairs from files only: a private folder that exists
        # for the duration of the call
        with tempfile.TemporaryDirectory(prefix="certkeeper-") as d:
            cert, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
            for path, data in ((cert, cfg.client_cert_data), (key, cfg.client_key_data)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            ctx.load_cert_chain(cert, key)
    return ctx


class TokenBucket:
    """client-go's default rate limiter: ``qps`` tokens a second, up to ``burst`` saved."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> None:
        if self.qps <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1
            wait = -self._tokens / self.qps if self._tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)  # the rate limit itself: callers are meant to wait here


def status_error(code: int, body: bytes, what: str) -> StoreError:
    """The API server's ``Status`` as the protocol's exception, its message unchanged."""
    try:
        status = json.loads(body)
    except ValueError:
        status = {}
    if not isinstance(status, dict):
        status = {}
    message = status.get("message") or f"{what}: HTTP {code}: {body[:200].decode('utf-8', 'replace')}"
    reason = status.get("reason", "")
    if code == 404:
        return NotFound(message)
    if code == 409 and reason == "AlreadyExists":
        return AlreadyExists(message)
    if code == 409:
        return Conflict(message)
    if code == 422:
        causes = (status.get("details") or {}).get("causes") or []
        errors = [f"{c['field']}: {c.get('message', '')}" if c.get("field") else c.get("message", "") for c in causes]
        return Invalid(message, errors)
    if code == 403:
        return Forbidden(message)
    if code == 410:
        return Gone(message)
    if code == 429 or code >= 500:
        return Unavailable(message)
    return StoreError(message)


class KubeClient:
    """Thread-safe. ``requests_made`` counts every request sent (the benchmarks' figure)."""

    def __init__(self, cfg: ClusterConfig, qps: float = 20.0, burst: int = 50, timeout: float = 30.0) -> None:
        self.cfg = cfg
        self.server = cfg.server
        self.timeout = timeout
        self.limiter = TokenBucket(qps, burst)
        self.tokens = TokenSource(cfg)
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["User-Agent"] = "certkeeper"
        if self.server.startswith("https://"):
            adapter = _TLSAdapter(ssl_context(cfg), cfg.tls_server_name, pool_connections=4, pool_maxsize=64)
            self.session.mount("https://", adapter)
        else:
            self.session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=64))
        self._count = itertools.count()
        self.requests_made = 0

    def _headers(self, extra: Mapping[str, str] | None, force_token: bool = False) -> dict[str, str]:
        headers = dict(extra or {})
        token = self.tokens.token(force=force_token)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        stream: bool = False,
        timeout: float | tuple[float, float] | None = None,
        limited: bool = True,
    ) -> requests.Response:
        """Send one request; a 401 is retried once with a fresh token (rotated files,
        expired exec credentials). Raises the protocol's errors on failure."""
        if limited:
            self.limiter.take()
        headers: dict[str, str] = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        for attempt in (0, 1):
            self.requests_made = next(self._count) + 1
            try:
                resp = self.session.request(
                    method,
                    self.server + path,
                    params=params,
                    data=body,
                    headers=self._headers(headers, force_token=attempt > 0),
                    stream=stream,
                    timeout=timeout or self.timeout,
                )
            except requests.RequestException as e:
                raise Unavailable(f"{method} {path}: {e}") from e
            if resp.status_code == 401 and attempt == 0 and (self.cfg.token_file or self.cfg.exec_plugin):
                resp.close()
                continue
            break
        if resp.status_code >= 400:
            content = resp.content
            resp.close()
            if resp.status_code == 401:
                raise Forbidden(f"Unauthorized: the API server at {self.server} refused the credentials of {self.cfg.source}")
            raise status_error(resp.status_code, content, f"{method} {path}")
        return resp

    def json(self, method: str, path: str, obj: Any = None, **kw: Any) -> Any:
        body = None if obj is None else json.dumps(obj, separators=(",", ":")).encode()
        resp = self.request(method, path, body=body, **kw)
        return resp.json() if resp.content else None

    def watch_lines(
        self, path: str, params: Mapping[str, Any], accept: str = "application/json", timeout: float = 300.0
    ) -> Iterator[bytes]:
        """The lines of one watch request (each a JSON WatchEvent) until the server ends
        it (``timeoutSeconds``) or the connection breaks."""
        query = {**params, "watch": "1", "allowWatchBookmarks": "true", "timeoutSeconds": str(int(timeout))}
        resp = self.request("GET", path, params=query, accept=accept, stream=True, timeout=(10.0, timeout + 30.0))
        try:
            for line in resp.iter_lines(chunk_size=65536):
                if line:
                    yield line
        except requests.RequestException as e:
            raise Unavailable(f"watch {path}: {e}") from e
        finally:
            resp.close()

    def close(self) -> None:
        self.session.close()
