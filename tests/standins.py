"""Local HTTPS stand-ins for hosted DNS APIs that cannot run here: Cloudflare, Google Cloud
DNS, Azure DNS, DigitalOcean, Akamai Edge DNS, and acme-dns (whose Go module is not
available from the module proxy here). Each implements the documented endpoints the
solver uses, checks credentials the way the service does (tokens, the service-account JWT
signature, the Entra client secret, the EdgeGrid signature, acme-dns API keys) and answers
errors in the service's documented shapes. They are stand-ins, not the services.

``ZoneNameserver`` serves the records a stand-in holds over DNS, so Pebble's VA and the
propagation check see what the solver wrote.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import socket
import socketserver
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.peers import free_port, make_tls_ca_and_server_cert

Reply = tuple[int, Any]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    url: str

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode()))


class Records:
    """TXT values by absolute name, shared by a stand-in and its DNS front end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, list[str]] = {}

    def get(self, name: str) -> list[str]:
        with self._lock:
            return list(self._values.get(_abs(name), []))

    def set(self, name: str, values: list[str]) -> None:
        with self._lock:
            if values:
                self._values[_abs(name)] = list(values)
            else:
                self._values.pop(_abs(name), None)


def _abs(name: str) -> str:
    return name.lower() if name.endswith(".") else f"{name.lower()}."


class StandIn:
    """An HTTPS server on 127.0.0.1 answering through ``handle``."""

    def __init__(self, folder: Path) -> None:
        self.records = Records()
        self.requests: list[Request] = []
        ca, cert, key = make_tls_ca_and_server_cert(folder)
        self.ca_path = ca
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urllib.parse.urlsplit(self.path)
                request = Request(
                    self.command, urllib.parse.unquote(parts.path), dict(urllib.parse.parse_qsl(parts.query)),
                    {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length),
                    f"https://{self.headers.get('Host')}{self.path}",
                )
                stand_in.requests.append(request)
                status, body = stand_in.handle(request)
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError


def _bearer(request: Request) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ")


# --------------------------------------------------------------------------- Cloudflare


class CloudflareStandIn(StandIn):
    """api.cloudflare.com/client/v4: zones, dns_records (list, create, delete)."""

    def __init__(self, folder: Path, zones: dict[str, str], token: str, key: str, email: str) -> None:
        super().__init__(folder)
        self.zones, self.token, self.key, self.email = zones, token, key, email
        self.ids = itertools.count(1)
        self.by_id: dict[str, tuple[str, str, str]] = {}  # record id -> (zone id, name, value)

    def handle(self, r: Request) -> Reply:
        auth_ok = _bearer(r) == self.token if "authorization" in r.headers else (
            r.headers.get("x-auth-key") == self.key and r.headers.get("x-auth-email") == self.email
        )
        if not auth_ok:
            return 403, {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]}
        parts = r.path.removeprefix("/client/v4/").split("/")
        if parts == ["zones"] and r.method == "GET":
            found = [{"id": zid, "name": name} for name, zid in self.zones.items() if name == r.query.get("name")]
            return 200, {"success": True, "result": found}
        if len(parts) >= 3 and parts[0] == "zones" and parts[2] == "dns_records":
            zone_id = parts[1]
            if zone_id not in self.zones.values():
                return 404, {"success": False, "errors": [{"code": 7003, "message": "Could not route to /zones"}]}
            if r.method == "GET":
                found = [{"id": rid, "type": "TXT", "name": n, "content": v}
                         for rid, (z, n, v) in self.by_id.items()
                         if z == zone_id and n == r.query.get("name") and v == r.query.get("content", v)]
                return 200, {"success": True, "result": found}
            if r.method == "POST":
                body = r.json()
                if any(v == (zone_id, body["name"], body["content"]) for v in self.by_id.values()):
                    return 400, {"success": False,
                                 "errors": [{"code": 81058, "message": "An identical record already exists."}]}
                rid = str(next(self.ids))
                self.by_id[rid] = (zone_id, body["name"], body["content"])
                self.records.set(body["name"], [*self.records.get(body["name"]), body["content"]])
                return 200, {"success": True, "result": {"id": rid, **body}}
            if r.method == "DELETE" and len(parts) == 4:
                _, name, value = self.by_id.pop(parts[3])
                self.records.set(name, [v for v in self.records.get(name) if v != value])
                return 200, {"success": True, "result": {"id": parts[3]}}
        return 404, {"success": False, "errors": [{"code": 7000, "message": "No route for that URI"}]}


# --------------------------------------------------------------------------- DigitalOcean


class DigitalOceanStandIn(StandIn):
    """api.digitalocean.com/v2/domains/{domain}/records (list, create, delete)."""

    def __init__(self, folder: Path, domains: set[str], token: str) -> None:
        super().__init__(folder)
        self.domains, self.token = domains, token
        self.ids = itertools.count(100)
        self.by_id: dict[int, tuple[str, str, str]] = {}

    def handle(self, r: Request) -> Reply:
        if _bearer(r) != self.token:
            return 401, {"id": "Unauthorized", "message": "Unable to authenticate you"}
        parts = r.path.removeprefix("/v2/").split("/")
        if len(parts) < 3 or parts[0] != "domains" or parts[2] != "records" or parts[1] not in self.domains:
            return 404, {"id": "not_found", "message": "The resource you were accessing could not be found."}
        domain = parts[1]
        if r.method == "GET":
            wanted = r.query.get("name")
            found = [{"id": rid, "type": "TXT", "name": n, "data": v, "ttl": 60}
                     for rid, (d, n, v) in self.by_id.items()
                     if d == domain and (wanted is None or (f"{n}.{d}" if n != "@" else d) == wanted)]
            return 200, {"domain_records": found}
        if r.method == "POST":
            body = r.json()
            rid = next(self.ids)
            self.by_id[rid] = (domain, body["name"], body["data"])
            full = f"{body['name']}.{domain}" if body["name"] != "@" else domain
            self.records.set(full, [*self.records.get(full), body["data"]])
            return 201, {"domain_record": {"id": rid, **body}}
        if r.method == "DELETE" and len(parts) == 4:
            _, name, value = self.by_id.pop(int(parts[3]))
            full = f"{name}.{domain}" if name != "@" else domain
            self.records.set(full, [v for v in self.records.get(full) if v != value])
            return 204, None
        return 405, {"id": "method_not_allowed", "message": "method not allowed"}


# --------------------------------------------------------------------------- Google Cloud DNS


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CloudDNSStandIn(StandIn):
    """The OAuth token endpoint (JWT bearer grant, signature checked with the service
    account's public key) and dns/v1 managedZones, rrsets and changes."""

    def __init__(self, folder: Path, project: str, zones: dict[str, str], account_key: rsa.RSAPrivateKey,
                 email: str) -> None:
        super().__init__(folder)
        self.project, self.zones, self.email = project, zones, email
        self.public_key = account_key.public_key()
        self.token = "ya29.stand-in-token"
        self.changes: dict[str, int] = {}
        self.pending_polls = 1
        self.ids = itertools.count(1)

    def handle(self, r: Request) -> Reply:
        if r.path == "/token":
            return self._token(r)
        if r.path == "/computeMetadata/v1/instance/service-accounts/default/token":  # the metadata server
            if r.headers.get("metadata-flavor") != "Google":
                return 403, {"error": "Missing Metadata-Flavor:Google header"}
            return 200, {"access_token": self.token, "expires_in": 3599, "token_type": "Bearer"}
        if _bearer(r) != self.token:
            return 401, {"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                                   "status": "UNAUTHENTICATED"}}
        prefix = f"/dns/v1/projects/{self.project}/managedZones"
        if not r.path.startswith(prefix):
            return 404, {"error": {"code": 404, "message": "The requested project was not found."}}
        parts = [p for p in r.path.removeprefix(prefix).split("/") if p]
        if not parts:
            found = [{"name": n, "dnsName": d, "visibility": "public"} for d, n in self.zones.items()
                     if d == r.query.get("dnsName")]
            return 200, {"managedZones": found}
        if parts[0] not in self.zones.values():
            return 404, {"error": {"code": 404, "message": f"The 'parameters.managedZone' resource named "
                                                           f"'{parts[0]}' does not exist."}}
        if parts[1:] == ["rrsets"]:
            values = self.records.get(r.query["name"])
            rrsets = [{"name": r.query["name"], "type": "TXT", "ttl": 60, "rrdatas": [f'"{v}"' for v in values]}]
            return 200, {"rrsets": rrsets if values else []}
        if parts[1:] == ["changes"] and r.method == "POST":
            body = r.json()
            for old in body.get("deletions", []):
                if [f'"{v}"' for v in self.records.get(old["name"])] != old["rrdatas"]:
                    return 412, {"error": {"code": 412, "message": "Precondition not met for 'entity.change.deletions'"}}
                self.records.set(old["name"], [])
            for new in body.get("additions", []):
                self.records.set(new["name"], [v.strip('"') for v in new["rrdatas"]])
            change = str(next(self.ids))
            self.changes[change] = self.pending_polls
            return 200, {"id": change, "status": "pending" if self.pending_polls else "done"}
        if len(parts) == 3 and parts[1] == "changes":
            left = self.changes[parts[2]]
            self.changes[parts[2]] = max(left - 1, 0)
            return 200, {"id": parts[2], "status": "pending" if left else "done"}
        return 404, {"error": {"code": 404, "message": "not found"}}

    def _token(self, r: Request) -> Reply:
        form = r.form()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type"}
        try:
            header, claims, signature = form["assertion"].split(".")
            self.public_key.verify(_b64url_decode(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(),
                                   hashes.SHA256())
        except (KeyError, ValueError, InvalidSignature):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        body = json.loads(_b64url_decode(claims))
        if body.get("iss") != self.email or body.get("aud") != f"{self.url}/token" or "clouddns" not in body.get(
                "scope", ""):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT claims."}
        return 200, {"access_token": self.token, "expires_in": 3600, "token_type": "Bearer"}


# --------------------------------------------------------------------------- Azure DNS


class AzureStandIn(StandIn):
    """Microsoft Entra's token endpoint (client credentials) and Azure Resource Manager's
    DNS record sets (public ``dnsZones`` and ``privateDnsZones``)."""

    def __init__(self, folder: Path, tenant: str, client_id: str, secret: str, subscription: str, group: str,
                 zones: set[str]) -> None:
        super().__init__(folder)
        self.tenant, self.client_id, self.secret = tenant, client_id, secret
        self.subscription, self.group, self.zones = subscription, group, zones
        self.token = "eyJ.stand-in.token"

    def handle(self, r: Request) -> Reply:
        if r.path == "/metadata/identity/oauth2/token":  # the instance metadata service (managed identity)
            if r.headers.get("metadata") != "true":
                return 400, {"error": "invalid_request", "error_description": "Required metadata header not specified"}
            if r.query.get("resource") != f"{self.url}/" or r.query.get("client_id", self.client_id) != self.client_id:
                return 400, {"error": "invalid_request", "error_description": "Identity not found"}
            return 200, {"access_token": self.token, "token_type": "Bearer", "expires_in": "3599"}
        if r.path == f"/{self.tenant}/oauth2/v2.0/token":
            form = r.form()
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.secret:
                return 401, {"error": "invalid_client",
                             "error_description": "AADSTS7000215: Invalid client secret provided."}
            if form.get("scope") != f"{self.url}/.default":
                return 400, {"error": "invalid_scope"}
            return 200, {"access_token": self.token, "token_type": "Bearer", "expires_in": 3599}
        if _bearer(r) != self.token:
            return 401, {"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}}
        prefix = f"/subscriptions/{self.subscription}/resourceGroups/{self.group}/providers/Microsoft.Network/"
        if not r.path.startswith(prefix):
            return 404, {"error": {"code": "ResourceGroupNotFound",
                                   "message": f"Resource group '{self.group}' could not be found."}}
        kind, zone, rtype, relative = r.path.removeprefix(prefix).split("/")
        private = kind == "privateDnsZones"
        version = "2018-09-01" if private else "2018-05-01"
        if r.query.get("api-version") != version or rtype != "TXT":
            return 400, {"error": {"code": "InvalidApiVersionParameter", "message": "bad api-version"}}
        if zone not in self.zones:
            return 404, {"error": {"code": "ParentResourceNotFound",
                                   "message": f"Can not perform requested operation on nested resource. Parent "
                                              f"resource '{zone}' not found."}}
        name = zone if relative == "@" else f"{relative}.{zone}"
        key = "txtRecords" if private else "TXTRecords"
        if r.method == "GET":
            values = self.records.get(name)
            if not values:
                return 404, {"error": {"code": "NotFound", "message": "The resource record was not found."}}
            return 200, {"name": relative, "properties": {key: [{"value": [v]} for v in values]}}
        if r.method == "PUT":
            records = r.json()["properties"][key]
            self.records.set(name, ["".join(rec["value"]) for rec in records])
            return 200, {"name": relative, "properties": r.json()["properties"]}
        if r.method == "DELETE":
            self.records.set(name, [])
            return 200, None
        return 405, {"error": {"code": "MethodNotAllowed", "message": "no"}}


# --------------------------------------------------------------------------- Akamai


class AkamaiStandIn(StandIn):
    """Edge DNS v2 record sets behind EdgeGrid authentication; the signature is computed
    here from Akamai's description, separately from the solver's code."""

    def __init__(self, folder: Path, zones: set[str], client_token: str, client_secret: str,
                 access_token: str) -> None:
        super().__init__(folder)
        self.zones, self.client_token, self.client_secret, self.access_token = (
            zones, client_token, client_secret, access_token)

    def _signed(self, r: Request) -> bool:
        header = r.headers.get("authorization", "")
        if not header.startswith("EG1-HMAC-SHA256 "):
            return False
        fields = dict(part.split("=", 1) for part in header.removeprefix("EG1-HMAC-SHA256 ").split(";") if part)
        if fields.get("client_token") != self.client_token or fields.get("access_token") != self.access_token:
            return False
        stamp = fields.get("timestamp", "")
        try:
            when = dt.datetime.strptime(stamp, "%Y%m%dT%H:%M:%S%z")
        except ValueError:
            return False
        if abs(dt.datetime.now(dt.UTC) - when) > dt.timedelta(minutes=5):
            return False
        unsigned = header[: header.index("signature=")]
        key = base64.b64encode(hmac.new(self.client_secret.encode(), stamp.encode(), hashlib.sha256).digest())
        parts = urllib.parse.urlsplit(r.url)
        body_hash = base64.b64encode(hashlib.sha256(r.body).digest()).decode() if r.method == "POST" and r.body else ""
        data = "\t".join([r.method, "https", parts.netloc.lower(),
                          parts.path + (f"?{parts.query}" if parts.query else ""), "", body_hash, unsigned])
        expected = base64.b64encode(hmac.new(key, data.encode(), hashlib.sha256).digest()).decode()
        return hmac.compare_digest(expected, fields.get("signature", ""))

    def handle(self, r: Request) -> Reply:
        if not self._signed(r):
            return 401, {"type": "https://problems.luna.akamaiapis.net/-/pep-authn/deny", "title": "Not authorized",
                         "status": 401, "detail": "The signature does not match"}
        parts = r.path.removeprefix("/config-dns/v2/zones/").split("/")
        if len(parts) != 5 or parts[1] != "names" or parts[3:] != ["types", "TXT"]:
            return 404, {"title": "Not Found", "status": 404, "detail": "no such API"}
        zone, name = parts[0], parts[2]
        if zone not in self.zones:
            return 404, {"title": "Not Found", "status": 404, "detail": f'Zone "{zone}" does not exist'}
        values = self.records.get(name)
        if r.method == "GET":
            if not values:
                return 404, {"title": "Not Found", "status": 404, "detail": "Recordset does not exist"}
            return 200, {"name": name, "type": "TXT", "ttl": 60, "rdata": [f'"{v}"' for v in values]}
        if r.method in ("POST", "PUT"):
            if r.method == "POST" and values:
                return 409, {"title": "Conflict", "status": 409, "detail": "Recordset already exists"}
            self.records.set(name, [v.strip('"') for v in r.json()["rdata"]])
            return 201 if r.method == "POST" else 200, r.json()
        if r.method == "DELETE":
            self.records.set(name, [])
            return 204, None
        return 405, {"title": "Method Not Allowed", "status": 405}


# --------------------------------------------------------------------------- acme-dns


class AcmeDNSStandIn(StandIn):
    """acme-dns's three documented endpoints: ``/register``, ``/update`` (X-Api-User and
    X-Api-Key, a 43-character value) and ``/health``; the two latest values are kept per
    subdomain under ``auth_zone``."""

    def __init__(self, folder: Path, auth_zone: str) -> None:
        super().__init__(folder)
        self.auth_zone = auth_zone
        self.accounts: dict[str, tuple[str, str]] = {}  # username -> (password, subdomain)
        self.ids = itertools.count(1)

    def handle(self, r: Request) -> Reply:
        if r.path == "/health":
            return 200, None
        if r.path == "/register" and r.method == "POST":
            n = next(self.ids)
            user, password, sub = f"user-{n:04d}", f"password-{n:04d}-" + "x" * 20, f"sub-{n:04d}"
            self.accounts[user] = (password, sub)
            return 201, {"username": user, "password": password, "fulldomain": f"{sub}.{self.auth_zone}",
                         "subdomain": sub, "allowfrom": []}
        if r.path == "/update" and r.method == "POST":
            account = self.accounts.get(r.headers.get("x-api-user", ""))
            if account is None or not hmac.compare_digest(account[0], r.headers.get("x-api-key", "")):
                return 401, {"error": "forbidden"}
            body = r.json()
            if body.get("subdomain") != account[1]:
                return 401, {"error": "forbidden"}
            if len(body.get("txt", "")) != 43:
                return 400, {"error": "bad_txt"}
            name = f"{account[1]}.{self.auth_zone}"
            self.records.set(name, [*self.records.get(name), body["txt"]][-2:])
            return 200, {"txt": body["txt"]}
        return 404, {"error": "not found"}


# --------------------------------------------------------------------------- DNS front end


class ZoneNameserver:
    """Authoritative DNS for ``zone`` on loopback (UDP and TCP), answering TXT from a
    lookup function; every other name resolves to 127.0.0.1, and ``cnames`` adds CNAMEs."""

    def __init__(self, zone: str, txt: Callable[[str], list[str]], cnames: dict[str, str] | None = None) -> None:
        self.zone = dns.name.from_text(zone)
        self.txt = txt
        self.cnames = {_abs(k): _abs(v) for k, v in (cnames or {}).items()}
        self.port = free_port(udp_too=True)
        handler = self._handler()
        self._servers: list[socketserver.BaseServer] = [
            socketserver.ThreadingUDPServer(("127.0.0.1", self.port), handler),
            socketserver.ThreadingTCPServer(("127.0.0.1", self.port), handler),
        ]
        for server in self._servers:
            server.daemon_threads = True  # type: ignore[attr-defined]
            threading.Thread(target=server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= 0x0400  # AA
        question = query.question[0]
        name, rdtype = question.name, question.rdtype
        if not name.is_subdomain(self.zone):
            response.set_rcode(dns.rcode.REFUSED)
            return response
        apex = self.zone.to_text()
        soa = f"ns.{apex} hostmaster.{apex} 1 60 60 3600 5"
        text = name.to_text().lower()
        if text in self.cnames and rdtype != dns.rdatatype.CNAME:
            target = self.cnames[text]
            response.answer.append(dns.rrset.from_text_list(name, 5, "IN", "CNAME", [target]))
            name, text = dns.name.from_text(target), target
        if text in self.cnames and rdtype == dns.rdatatype.CNAME:
            response.answer.append(dns.rrset.from_text_list(name, 5, "IN", "CNAME", [self.cnames[text]]))
            return response
        records: list[str] = []
        if name == self.zone and rdtype == dns.rdatatype.SOA:
            records = [soa]
        elif name == self.zone and rdtype == dns.rdatatype.NS:
            records = [f"ns.{apex}"]
        elif rdtype == dns.rdatatype.A:
            records = ["127.0.0.1"]
        elif rdtype == dns.rdatatype.TXT:
            records = [f'"{v}"' for v in self.txt(text)]
        if records:
            response.answer.append(dns.rrset.from_text_list(name, 5, "IN", rdtype, records))
        elif not response.answer:
            response.authority.append(dns.rrset.from_text_list(self.zone, 5, "IN", "SOA", [soa]))
        return response

    def _handler(self) -> type[socketserver.BaseRequestHandler]:
        front = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                if isinstance(self.request, tuple):
                    data, sock = self.request
                    sock.sendto(front.answer(dns.message.from_wire(data)).to_wire(), self.client_address)
                    return
                conn: socket.socket = self.request
                size = int.from_bytes(_read(conn, 2), "big")
                reply = front.answer(dns.message.from_wire(_read(conn, size))).to_wire()
                conn.sendall(len(reply).to_bytes(2, "big") + reply)

        return Handler


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data
