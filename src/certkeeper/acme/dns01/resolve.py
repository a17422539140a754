"""DNS lookups for DNS-01 (spec §4.6): zone discovery, CNAME following and the
propagation check, ported from cert-manager's pkg/issuer/acme/dns/util/wait.go.

Every query goes to explicitly given ``host[:port]`` servers (never the system resolver),
over UDP with a TCP retry on truncation or timeout, with a per-query timeout. Nothing here
sleeps: the caller re-runs a check when it wants to.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

from certkeeper.acme.dns01.doh import DoHError, doh_query
from certkeeper.acme.nameserver import DEFAULT_DNS_PORT, join_nameserver, split_nameserver

DEFAULT_QUERY_TIMEOUT = 10.0
MAX_CNAME_CHAIN = 32


class DNSLookupError(Exception):
    """A lookup failed outright (no server answered, unexpected rcode, no zone)."""


def to_fqdn(name: str) -> str:
    return name if name.endswith(".") else f"{name}."


def challenge_record_name(dns_name: str) -> str:
    """``_acme-challenge.<dnsName>.`` (a wildcard's ``*.`` is already stripped in spec)."""
    return to_fqdn(f"_acme-challenge.{dns_name.removeprefix('*.')}")


def query(
    name: str,
    rdtype: dns.rdatatype.RdataType,
    nameservers: Sequence[str],
    *,
    recursive: bool = True,
    timeout: float = DEFAULT_QUERY_TIMEOUT,
) -> dns.message.Message:
    """Ask each server in turn; the first answer wins. UDP first, TCP when the answer is
    truncated or UDP timed out (cert-manager's dnsQuery); ``https://`` servers use DoH."""
    if not nameservers:
        raise DNSLookupError("no nameservers configured")
    request = dns.message.make_query(to_fqdn(name), rdtype, use_edns=True, payload=1232)
    if not recursive:
        request.flags &= ~dns.flags.RD
    errors: list[str] = []
    for server in nameservers:
        if server.startswith("https://"):
            try:
                return doh_query(request, server, timeout=timeout)
            except DoHError as exc:
                errors.append(str(exc))
                continue
        host, port = split_nameserver(server)
        try:
            response = dns.query.udp(request, host, port=port, timeout=timeout)
            if not response.flags & dns.flags.TC:
                return response
        except dns.exception.Timeout:
            pass
        except (OSError, dns.exception.DNSException) as exc:
            errors.append(f"{join_nameserver(host, port)}: {exc}")
            continue
        try:
            return dns.query.tcp(request, host, port=port, timeout=timeout)
        except dns.exception.Timeout:
            errors.append(f"{join_nameserver(host, port)}: timed out after {timeout:g}s")
        except (OSError, dns.exception.DNSException) as exc:
            errors.append(f"{join_nameserver(host, port)}: {exc}")
    raise DNSLookupError(f"DNS query for {to_fqdn(name)} {dns.rdatatype.to_text(rdtype)} failed: "
                         + "; ".join(errors))


def _rrsets(response: dns.message.Message, rdtype: dns.rdatatype.RdataType) -> list[dns.rrset.RRset]:
    return [rrset for rrset in response.answer if rrset.rdtype == rdtype]


class _ZoneCache:
    """fqdn → zone per nameserver set, kept for the SOA TTL (cert-manager caches too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, tuple[str, ...]], tuple[str, float]] = {}

    def get(self, key: tuple[str, tuple[str, ...]]) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[1] < time.monotonic():
                self._entries.pop(key, None)
                return None
            return entry[0]

    def put(self, key: tuple[str, tuple[str, ...]], zone: str, ttl: float) -> None:
        with self._lock:
            self._entries[key] = (zone, time.monotonic() + ttl)


_zone_cache = _ZoneCache()


def find_zone(fqdn: str, nameservers: Sequence[str], *, timeout: float = DEFAULT_QUERY_TIMEOUT) -> str:
    """The zone apex holding ``fqdn``: walk up the labels asking for SOA; NXDOMAIN or a CNAME
    answer means climb, an SOA answer names the zone."""
    fqdn = to_fqdn(fqdn).lower()
    cache_key = (fqdn, tuple(nameservers))
    cached = _zone_cache.get(cache_key)
    if cached is not None:
        return cached
    name = dns.name.from_text(fqdn)
    while len(name) > 1:  # stop before the root
        domain = name.to_text()
        response = query(domain, dns.rdatatype.SOA, nameservers, timeout=timeout)
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise DNSLookupError(f"Unexpected response code '{dns.rcode.to_text(rcode)}' for {domain}")
        if rcode == dns.rcode.NOERROR and not _rrsets(response, dns.rdatatype.CNAME):
            for rrset in _rrsets(response, dns.rdatatype.SOA):
                zone = rrset.name.to_text().lower()
                _zone_cache.put(cache_key, zone, rrset.ttl)
                return zone
        name = name.parent()
    raise DNSLookupError(f"Could not find the start of authority for {fqdn}")


def follow_cnames(fqdn: str, nameservers: Sequence[str], *, timeout: float = DEFAULT_QUERY_TIMEOUT) -> str:
    """The end of the CNAME chain starting at ``fqdn`` (``cnameStrategy: Follow``);
    a loop is an error."""
    current = to_fqdn(fqdn).lower()
    seen: list[str] = []
    while True:
        response = query(current, dns.rdatatype.CNAME, nameservers, timeout=timeout)
        if response.rcode() != dns.rcode.NOERROR:
            return current
        target = None
        for rrset in _rrsets(response, dns.rdatatype.CNAME):
            if rrset.name.to_text().lower() == current:
                target = rrset[0].target.to_text().lower()
                break
        if target is None:
            return current
        if target in seen or target == current:
            raise DNSLookupError(f"Found recursive CNAME record to {target!r} when looking up {current!r}")
        seen.append(current)
        if len(seen) > MAX_CNAME_CHAIN:
            raise DNSLookupError(f"CNAME chain from {fqdn!r} is longer than {MAX_CNAME_CHAIN}")
        current = target


def _cname_target(response: dns.message.Message, fqdn: str) -> str:
    """If the TXT answer came through CNAMEs, the name at the end (updateDomainWithCName)."""
    current = fqdn
    for _ in range(MAX_CNAME_CHAIN):
        step = next(
            (r[0].target.to_text() for r in _rrsets(response, dns.rdatatype.CNAME)
             if r.name.to_text().lower() == current.lower()),
            None,
        )
        if step is None:
            break
        current = step
    return current


def authoritative_nameservers(
    fqdn: str, nameservers: Sequence[str], *, timeout: float = DEFAULT_QUERY_TIMEOUT
) -> list[str]:
    """Host names of the NS records of the zone holding ``fqdn``."""
    zone = find_zone(fqdn, nameservers, timeout=timeout)
    response = query(zone, dns.rdatatype.NS, nameservers, timeout=timeout)
    names = [rdata.target.to_text().lower() for rrset in _rrsets(response, dns.rdatatype.NS) for rdata in rrset]
    if not names:
        raise DNSLookupError("Could not determine authoritative nameservers")
    return names


def _address_of(host: str, nameservers: Sequence[str], timeout: float) -> str:
    """Address of an NS host: via the given servers first (they usually hold the glue),
    then the system resolver."""
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        try:
            response = query(host, rdtype, nameservers, timeout=timeout)
        except DNSLookupError:
            break
        for rrset in _rrsets(response, rdtype):
            return str(rrset[0].address)
    try:
        info = socket.getaddrinfo(host.rstrip("."), None, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise DNSLookupError(f"cannot resolve authoritative nameserver {host}: {exc}") from exc
    return str(info[0][4][0])


def _has_value(response: dns.message.Message, value: str) -> bool:
    for rrset in _rrsets(response, dns.rdatatype.TXT):
        for rdata in rrset:
            if b"".join(rdata.strings).decode("utf-8", "replace") == value:
                return True
    return False


def check_propagation(
    fqdn: str,
    value: str,
    *,
    nameservers: Sequence[str],
    authoritative: bool,
    authoritative_port: int | None = None,
    timeout: float = DEFAULT_QUERY_TIMEOUT,
) -> str | None:
    """None when every checked server serves TXT ``value`` at ``fqdn``; else why not.

    With ``authoritative`` every NS of the zone is asked directly, on
    ``authoritative_port`` if given, else on the port of a given nameserver with the same
    address, else 53 (a test setup runs everything on one non-standard port)."""
    fqdn = to_fqdn(fqdn)
    try:
        first = query(fqdn, dns.rdatatype.TXT, nameservers, timeout=timeout)
        if first.rcode() == dns.rcode.NOERROR:
            fqdn = _cname_target(first, fqdn)
        servers = list(nameservers)
        if authoritative:
            given = dict(split_nameserver(ns) for ns in nameservers if not ns.startswith("https://"))
            servers = []
            for host in authoritative_nameservers(fqdn, nameservers, timeout=timeout):
                address = _address_of(host, nameservers, timeout)
                port = authoritative_port or given.get(address, DEFAULT_DNS_PORT)
                servers.append(join_nameserver(address, port))
        for server in servers:
            response = query(fqdn, dns.rdatatype.TXT, [server], recursive=False, timeout=timeout)
            rcode = response.rcode()
            if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                return f"NS {server} returned {dns.rcode.to_text(rcode)} for {fqdn}"
            if not _has_value(response, value):
                return f'DNS record for "{fqdn}" not yet propagated'
    except DNSLookupError as exc:
        return str(exc)
    return None
