"""``host[:port]`` nameserver strings as the issuer fields spell them (IPv6 in brackets)."""

from __future__ import annotations

import ipaddress

DEFAULT_DNS_PORT = 53


def split_nameserver(value: str, default_port: int = DEFAULT_DNS_PORT) -> tuple[str, int]:
    """``1.2.3.4`` / ``1.2.3.4:5353`` / ``[2001:db8::1]:53`` / ``2001:db8::1`` → (host, port)."""
    value = value.strip()
    if not value:
        raise ValueError("empty nameserver")
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep:
            raise ValueError(f"invalid nameserver {value!r}: missing ']'")
        if not rest:
            return host, default_port
        if not rest.startswith(":") or not rest[1:].isdigit():
            raise ValueError(f"invalid nameserver {value!r}: bad port")
        return host, _port(rest[1:], value)
    if value.count(":") > 1:
        ipaddress.IPv6Address(value)  # bare IPv6 without port
        return value, default_port
    host, sep, port = value.partition(":")
    if not sep:
        return host, default_port
    if not port.isdigit():
        raise ValueError(f"invalid nameserver {value!r}: bad port")
    return host, _port(port, value)


def _port(text: str, value: str) -> int:
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(f"invalid nameserver {value!r}: port out of range")
    return port


def join_nameserver(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
