"""The host solvers behind a Challenge: Present, self-check, CleanUp (§4.5, §4.6).

HTTP-01 is answered by the built-in responder (one listener shared by every challenge,
started the first time it is needed) or by files in a webroot that an existing web server
serves. DNS-01 records are written through the provider named in the solver's ``dns01``
block, with its credentials read from Secrets in the issuer's resource namespace.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ...acme.dns01 import ChangeTracking, DNS01Error, DNS01Provider, ProviderContext, build_provider
from ...acme.dns01.provider import config_mapping
from ...acme.dns01.resolve import (
    DNSLookupError,
    challenge_record_name,
    check_propagation,
    find_zone,
    follow_cnames,
)
from ...acme.http01 import Http01Responder, WebrootSolver, http01_self_check, parse_listen_address
from ...api.acme import CHALLENGE_DNS01, ACMEChallengeSolverDNS01, Challenge
from ...api.core import Secret
from ...runtime.controller import Context
from .providercache import ProviderCache, digest

if TYPE_CHECKING:
    from ...daemon import DaemonOptions

RESPONDER_KEY = "http01-responder"
PROVIDERS_KEY = "dns01-providers"
DNS_TIMEOUT = 5.0
"""Seconds per DNS query (cert-manager: 10 s); a dead server is reported sooner."""
FALLBACK_NAMESERVERS = ["8.8.8.8:53", "8.8.4.4:53"]
_responder_lock = threading.Lock()


class SolverFailure(Exception):
    """Present/CleanUp failed; the message goes into the Challenge's reason."""


class Solver(Protocol):
    def present(self, ch: Challenge) -> None: ...

    def check(self, ch: Challenge) -> str | None:
        """None when the ACME server should now be able to validate, else why not."""
        ...

    def cleanup(self, ch: Challenge) -> None: ...


def provider_cache(ctx: Context) -> ProviderCache:
    with _responder_lock:
        cache = ctx.services.get(PROVIDERS_KEY)
        if not isinstance(cache, ProviderCache):
            cache = ProviderCache()
            ctx.services[PROVIDERS_KEY] = cache
        return cache


def daemon_options(ctx: Context) -> DaemonOptions:
    from ...daemon import DaemonOptions  # noqa: PLC0415 - the daemon imports the controllers

    opts = ctx.options.extra.get("daemon")
    return opts if isinstance(opts, DaemonOptions) else DaemonOptions()


# --------------------------------------------------------------------------- HTTP-01


def http01_responder(ctx: Context, address: str) -> Http01Responder:
    """The shared built-in responder, listening from the first challenge on."""
    with _responder_lock:
        responder = ctx.services.get(RESPONDER_KEY)
        if isinstance(responder, Http01Responder):
            return responder
        responder = Http01Responder(address)
        try:
            responder.start()
        except (OSError, ValueError) as e:
            raise SolverFailure(f"cannot start the HTTP-01 responder on {address}: {e}") from e
        ctx.services[RESPONDER_KEY] = responder
        return responder


def stop_responder(ctx: Context) -> None:
    with _responder_lock:
        responder = ctx.services.pop(RESPONDER_KEY, None)
    if isinstance(responder, Http01Responder):
        responder.stop()


class HTTP01Solver:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.opts = daemon_options(ctx)

    def _target(self) -> tuple[Http01Responder | WebrootSolver, int]:
        opts = self.opts
        if opts.http01_webroot is not None:
            return WebrootSolver(Path(opts.http01_webroot)), opts.http01_self_check_port or 80
        if not opts.http01_address:
            raise SolverFailure(
                "HTTP-01 challenges cannot be answered: neither an HTTP-01 listen address nor a webroot "
                "is configured (--http01-address / --http01-webroot)"
            )
        responder = http01_responder(self.ctx, opts.http01_address)
        port = opts.http01_self_check_port or parse_listen_address(opts.http01_address)[1] or responder.port
        return responder, port

    def present(self, ch: Challenge) -> None:
        target, _ = self._target()
        try:
            target.present(ch.spec.dns_name or "", ch.spec.token or "", ch.spec.key or "")
        except (OSError, ValueError) as e:
            raise SolverFailure(f"cannot write the HTTP-01 challenge file: {e}") from e

    def check(self, ch: Challenge) -> str | None:
        _, port = self._target()
        return http01_self_check(
            ch.spec.dns_name or "", ch.spec.token or "", ch.spec.key or "",
            nameservers=self.opts.acme_http01_solver_nameservers or None, port=port,
        )

    def cleanup(self, ch: Challenge) -> None:
        opts = self.opts
        if opts.http01_webroot is not None:
            try:
                WebrootSolver(Path(opts.http01_webroot)).cleanup(ch.spec.dns_name or "", ch.spec.token or "")
            except (OSError, ValueError) as e:
                raise SolverFailure(f"cannot remove the HTTP-01 challenge file: {e}") from e
            return
        responder = self.ctx.services.get(RESPONDER_KEY)
        if isinstance(responder, Http01Responder):
            responder.cleanup(ch.spec.dns_name or "", ch.spec.token or "")


# --------------------------------------------------------------------------- DNS-01


def system_nameservers(path: Path = Path("/etc/resolv.conf")) -> list[str]:
    """The host's resolvers (cert-manager's default for --dns01-recursive-nameservers)."""
    servers = []
    try:
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                host = parts[1]
                servers.append(f"[{host}]:53" if ":" in host else f"{host}:53")
    except OSError:
        pass
    return servers or list(FALLBACK_NAMESERVERS)


def provider_field(dns01: ACMEChallengeSolverDNS01) -> tuple[str, object]:
    """The provider block that is set, by its manifest name (``rfc2136``, ``cloudDNS`` ...)."""
    for field, info in type(dns01).model_fields.items():
        if field in ("cname_strategy", "nameservers"):
            continue
        value = getattr(dns01, field)
        if value is not None:
            return info.alias or field, value
    raise SolverFailure("no DNS01 provider configured")


class DNS01Solver:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.opts = daemon_options(ctx)
        self.recursive = list(self.opts.dns01_recursive_nameservers) or system_nameservers()

    def _resource_namespace(self, ch: Challenge) -> str:
        ref = ch.spec.issuer_ref
        if ref is not None and ref.kind == "ClusterIssuer":
            return self.ctx.options.cluster_resource_namespace
        return ch.namespace or ""

    def _dns01(self, ch: Challenge) -> ACMEChallengeSolverDNS01:
        solver = ch.spec.solver
        if solver is None or solver.dns01 is None:
            raise SolverFailure("the challenge has no dns01 solver")
        return solver.dns01

    def _provider(self, ch: Challenge) -> DNS01Provider:
        """The provider for the challenge's solver block, reused while its Secrets are
        unchanged (see providercache)."""
        ns = self._resource_namespace(ch)
        ref = ch.spec.issuer_ref
        ambient = (
            self.opts.cluster_issuer_ambient_credentials if ref is not None and ref.kind == "ClusterIssuer"
            else self.opts.issuer_ambient_credentials
        )
        field, config = provider_field(self._dns01(ch))
        try:
            block = config_mapping(config)
        except TypeError as e:
            raise SolverFailure(str(e)) from e
        key = (ns, field, json.dumps(block, sort_keys=True, default=str), ambient)

        def read(name: str, data_key: str | None) -> bytes | dict[str, bytes] | None:
            found = self.ctx.store.try_get(Secret, ns, name)
            if found is None:
                return None
            if data_key is None:
                return {k: found.get(k) or b"" for k in (found.data or {})}
            return found.get(data_key)

        cache = provider_cache(self.ctx)
        cached = cache.get(key, read)
        if cached is not None:
            return cached
        reads: dict[tuple[str, str | None], str] = {}

        def get_secret(name: str, data_key: str) -> bytes:
            found = self.ctx.store.try_get(Secret, ns, name)
            value = found.get(data_key) if found is not None else None
            reads[(name, data_key)] = digest(value)
            if found is None:
                raise DNS01Error(f'secret "{ns}/{name}" not found')
            if value is None:
                raise DNS01Error(f'secret "{ns}/{name}" has no key "{data_key}"')
            return value

        def get_secret_data(name: str) -> dict[str, bytes]:
            value = read(name, None)
            reads[(name, None)] = digest(value)
            if not isinstance(value, dict):
                raise DNS01Error(f'secret "{ns}/{name}" not found')
            return value

        context = ProviderContext(
            get_secret=get_secret, get_secret_data=get_secret_data, namespace=ns, ambient_credentials=ambient,
        )
        try:
            provider = build_provider(field, block, context)
        except (DNS01Error, TypeError, ValueError) as e:
            raise SolverFailure(str(e)) from e
        cache.put(key, provider, reads)
        return provider

    def _record(self, ch: Challenge) -> tuple[str, str]:
        """(record fqdn, zone); with cnameStrategy Follow the record is where the CNAME ends."""
        fqdn = challenge_record_name(ch.spec.dns_name or "")
        try:
            if (self._dns01(ch).cname_strategy or "None") == "Follow":
                fqdn = follow_cnames(fqdn, self.recursive, timeout=DNS_TIMEOUT)
            return fqdn, find_zone(fqdn, self.recursive, timeout=DNS_TIMEOUT)
        except DNSLookupError as e:
            raise SolverFailure(str(e)) from e

    def present(self, ch: Challenge) -> None:
        provider = self._provider(ch)
        fqdn, zone = self._record(ch)
        try:
            provider.present(fqdn, zone, ch.spec.key or "")
        except (DNS01Error, DNSLookupError) as e:
            raise SolverFailure(str(e)) from e

    def check(self, ch: Challenge) -> str | None:
        dns01 = self._dns01(ch)
        fqdn = challenge_record_name(ch.spec.dns_name or "")
        provider = self._provider(ch)
        if isinstance(provider, ChangeTracking):
            # the provider's own "change is live" signal comes before asking DNS
            record, zone = self._record(ch)
            try:
                pending = provider.pending_reason(record, zone, ch.spec.key or "")
            except DNS01Error as e:
                raise SolverFailure(str(e)) from e
            if pending is not None:
                return pending
        servers = list(dns01.nameservers or []) or self.recursive
        authoritative = not dns01.nameservers and not self.opts.dns01_recursive_nameservers_only
        return check_propagation(
            fqdn, ch.spec.key or "", nameservers=servers, authoritative=authoritative, timeout=DNS_TIMEOUT
        )

    def cleanup(self, ch: Challenge) -> None:
        provider = self._provider(ch)
        fqdn, zone = self._record(ch)
        try:
            provider.cleanup(fqdn, zone, ch.spec.key or "")
        except (DNS01Error, DNSLookupError) as e:
            raise SolverFailure(str(e)) from e


def solver_for(ctx: Context, ch: Challenge) -> Solver:
    if ch.spec.type == CHALLENGE_DNS01:
        return DNS01Solver(ctx)
    opts = daemon_options(ctx)
    if opts.http01_solver_pods:
        from .podsolver import ClusterHTTP01Solver, SolverPodSettings  # noqa: PLC0415 - cluster only

        settings = SolverPodSettings(
            image=opts.acme_http01_solver_image,
            request_cpu=opts.acme_http01_solver_resource_request_cpu,
            request_memory=opts.acme_http01_solver_resource_request_memory,
            limit_cpu=opts.acme_http01_solver_resource_limits_cpu,
            limit_memory=opts.acme_http01_solver_resource_limits_memory,
            run_as_non_root=opts.acme_http01_solver_run_as_non_root,
            self_check_port=opts.http01_self_check_port or 80,
            nameservers=tuple(opts.acme_http01_solver_nameservers),
        )
        return ClusterHTTP01Solver(ctx, settings, gateway_api=opts.enable_gateway_api)
    return HTTP01Solver(ctx)


__all__ = ["SolverFailure", "solver_for", "stop_responder", "system_nameservers"]
