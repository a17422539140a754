"""Typed models: every field of §1.8, §1.10 and §1.11 loads under its exact JSON name and
writes back unchanged; irregular camelCase names are honoured and their regular spelling
refused (it would be a silently ignored typo in Kubernetes' strict decoding)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from certkeeper.api import registry
from certkeeper.api.acme import Challenge, Order, is_failure_state, is_final_state
from certkeeper.api.issuer import ACMEIssuerStatus, ClusterIssuer, Issuer
from certkeeper.api.loader import load_documents
from certkeeper.api.validation import validate

REF = {"name": "s", "key": "k"}

POD_TEMPLATE = {
    "metadata": {"labels": {"env": "prod"}, "annotations": {"a": "b"}},
    "spec": {
        "nodeSelector": {"bar": "baz"},
        "affinity": {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}
        },
        "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
        "priorityClassName": "high",
        "serviceAccountName": "solver",
        "imagePullSecrets": [{"name": "regcred"}],
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"cpu": 1, "memory": "64Mi"}},
    },
}

ACME_SPEC: dict[str, Any] = {
    "acme": {
        "email": "ops@example.com",
        "server": "https://acme.example/directory",
        "preferredChain": "ISRG Root X1",
        "skipTLSVerify": True,
        "externalAccountBinding": {"keyID": "kid", "keySecretRef": REF, "keyAlgorithm": "HS256"},
        "privateKeySecretRef": {"name": "account"},
        "disableAccountKeyGeneration": False,
        "enableDurationFeature": True,
        "profile": "tlsserver",
        "renewalInformationSource": "ARI",
        "solvers": [
            {
                "selector": {"matchLabels": {"a": "b"}, "dnsNames": ["x.example"], "dnsZones": ["example"]},
                "http01": {
                    "ingress": {
                        "serviceType": "ClusterIP",
                        "ingressClassName": "nginx",
                        "podTemplate": POD_TEMPLATE,
                        "ingressTemplate": {"metadata": {"labels": {"a": "b"}, "annotations": {"c": "d"}}},
                    }
                },
                "waitInsteadOfSelfCheck": "30s",
            },
            {"http01": {"ingress": {"class": "traefik"}}},
            {"http01": {"ingress": {"name": "web-ingress"}}},
            {
                "http01": {
                    "gatewayHTTPRoute": {
                        "serviceType": "NodePort",
                        "labels": {"x": "y"},
                        "parentRefs": [
                            {
                                "group": "gateway.networking.k8s.io",
                                "kind": "Gateway",
                                "name": "gw",
                                "namespace": "infra",
                                "sectionName": "http",
                                "port": 80,
                            }
                        ],
                        "podTemplate": POD_TEMPLATE,
                    }
                }
            },
            {
                "dns01": {
                    "cnameStrategy": "Follow",
                    "nameservers": ["8.8.8.8:53", "https://dns.example/dns-query"],
                    "akamai": {
                        "serviceConsumerDomain": "akamai.example",
                        "clientTokenSecretRef": REF,
                        "clientSecretSecretRef": REF,
                        "accessTokenSecretRef": REF,
                    },
                }
            },
            {"dns01": {"cloudDNS": {"serviceAccountSecretRef": REF, "project": "p", "hostedZoneName": "z"}}},
            {"dns01": {"cloudflare": {"email": "a@b.c", "apiKeySecretRef": REF}}},
            {"dns01": {"cloudflare": {"apiTokenSecretRef": REF}}},
            {
                "dns01": {
                    "route53": {
                        "auth": {
                            "kubernetes": {
                                "serviceAccountRef": {"name": "sa", "audiences": ["sts.amazonaws.com"]}
                            }
                        },
                        "accessKeyIDSecretRef": REF,
                        "secretAccessKeySecretRef": REF,
                        "role": "arn:aws:iam::1:role/dns",
                        "hostedZoneID": "Z123",
                        "region": "eu-central-1",
                    }
                }
            },
            {"dns01": {"route53": {"accessKeyID": "AKIA", "secretAccessKeySecretRef": REF}}},
            {
                "dns01": {
                    "azureDNS": {
                        "clientID": "c",
                        "clientSecretSecretRef": REF,
                        "subscriptionID": "s",
                        "tenantID": "t",
                        "resourceGroupName": "rg",
                        "hostedZoneName": "example.com",
                        "environment": "AzurePublicCloud",
                        "zoneType": "AzurePrivateZone",
                    }
                }
            },
            {
                "dns01": {
                    "azureDNS": {
                        "subscriptionID": "s",
                        "resourceGroupName": "rg",
                        "managedIdentity": {"clientID": "m", "tenantID": "t"},
                    }
                }
            },
            {
                "dns01": {
                    "azureDNS": {
                        "subscriptionID": "s",
                        "resourceGroupName": "rg",
                        "managedIdentity": {"resourceID": "/subscriptions/x"},
                    }
                }
            },
            {"dns01": {"digitalocean": {"tokenSecretRef": REF}}},
            {"dns01": {"acmeDNS": {"host": "https://acme-dns.example", "accountSecretRef": REF}}},
            {
                "dns01": {
                    "rfc2136": {
                        "nameserver": "[2001:db8::53]:53",
                        "tsigKeyName": "key",
                        "tsigSecretSecretRef": REF,
                        "tsigAlgorithm": "HMACSHA512",
                        "protocol": "TCP",
                    }
                }
            },
            {
                "dns01": {
                    "webhook": {
                        "groupName": "acme.example.com",
                        "solverName": "mydns",
                        "config": {
                            "apiUrl": "https://x",
                            "nested": [1, "two", {"three": None}],
                            "flag": True,
                        },
                    }
                }
            },
        ],
    }
}

VAULT_SPECS: list[dict[str, Any]] = [
    {"tokenSecretRef": REF},
    {"appRole": {"path": "approle", "roleId": "291b9d21", "secretRef": REF}},
    {"clientCertificate": {"mountPath": "/v1/auth/cert", "secretName": "client", "name": "role"}},
    {"kubernetes": {"mountPath": "/v1/auth/kubernetes", "secretRef": REF, "role": "r"}},
    {"kubernetes": {"serviceAccountRef": {"name": "sa", "audiences": ["vault"]}, "role": "r"}},
    {
        "aws": {
            "mountPath": "/v1/auth/aws",
            "role": "r",
            "region": "us-east-1",
            "serviceAccountRef": {"name": "sa"},
            "iamRoleArn": "arn:aws:iam::1:role/v",
            "vaultHeaderValue": "vault.example",
        }
    },
]


def _issuer_doc(spec: dict[str, Any], kind: str = "Issuer") -> dict[str, Any]:
    meta = {"name": "iss", "namespace": "default"} if kind == "Issuer" else {"name": "iss"}
    return {"apiVersion": "cert-manager.io/v1", "kind": kind, "metadata": meta, "spec": spec}


def _round_trip(doc: dict[str, Any]) -> Any:
    result = load_documents(json.dumps(doc), "test.json")
    assert result.errors == []
    [obj] = result.objects
    assert obj.to_dict()["spec"] == doc["spec"]
    return obj


def test_acme_issuer_with_every_solver_round_trips() -> None:
    obj = _round_trip(_issuer_doc(ACME_SPEC, "ClusterIssuer"))
    assert isinstance(obj, ClusterIssuer)
    acme = obj.spec.acme
    assert acme is not None and acme.solvers is not None
    assert acme.skip_tls_verify is True
    assert acme.external_account_binding is not None and acme.external_account_binding.key_id == "kid"
    assert acme.solvers[1].http01 is not None and acme.solvers[1].http01.ingress is not None
    assert acme.solvers[1].http01.ingress.class_ == "traefik"
    gw = acme.solvers[3].http01.gateway_http_route if acme.solvers[3].http01 else None
    assert gw is not None and gw.parent_refs is not None and gw.parent_refs[0].section_name == "http"
    r53 = acme.solvers[8].dns01.route53 if acme.solvers[8].dns01 else None
    assert r53 is not None and r53.hosted_zone_id == "Z123" and r53.access_key_id_secret_ref is not None
    assert acme.solvers[9].dns01 is not None and acme.solvers[9].dns01.route53 is not None
    assert acme.solvers[9].dns01.route53.access_key_id == "AKIA"
    azure = acme.solvers[10].dns01.azure_dns if acme.solvers[10].dns01 else None
    assert azure is not None and (azure.client_id, azure.subscription_id, azure.tenant_id) == ("c", "s", "t")
    webhook = acme.solvers[16].dns01.webhook if acme.solvers[16].dns01 else None
    assert webhook is not None and webhook.config["nested"][2] == {"three": None}


@pytest.mark.parametrize("auth", VAULT_SPECS, ids=lambda a: next(iter(a)))
def test_vault_auth_methods_round_trip(auth: dict[str, Any]) -> None:
    spec = {
        "vault": {
            "server": "https://vault:8200",
            "serverName": "vault.internal",
            "path": "pki_int/sign/app",
            "namespace": "team",
            "caBundleSecretRef": {"name": "ca", "key": "ca.crt"},
            "clientCertSecretRef": REF,
            "clientKeySecretRef": REF,
            "auth": auth,
        }
    }
    _round_trip(_issuer_doc(spec))


@pytest.mark.parametrize(
    "venafi",
    [
        {
            "zone": "z",
            "tpp": {"url": "https://tpp/vedsdk", "credentialsRef": {"name": "c"}, "caBundleSecretRef": REF},
        },
        {"zone": "z", "cloud": {"url": "https://api.venafi.cloud/", "apiTokenSecretRef": REF}},
        {
            "zone": "z",
            "ngts": {
                "url": "https://ngts",
                "tokenEndpoint": "https://auth",
                "tsgID": "123",
                "credentialsRef": {"name": "c"},
            },
        },
    ],
    ids=["tpp", "cloud", "ngts"],
)
def test_venafi_round_trips(venafi: dict[str, Any]) -> None:
    _round_trip(_issuer_doc({"venafi": venafi}))


def test_ca_and_self_signed_round_trip() -> None:
    _round_trip(
        _issuer_doc(
            {
                "ca": {
                    "secretName": "ca",
                    "crlDistributionPoints": ["http://crl"],
                    "ocspServers": ["http://ocsp"],
                    "issuingCertificateURLs": ["http://aia"],
                }
            }
        )
    )
    _round_trip(_issuer_doc({"selfSigned": {"crlDistributionPoints": ["http://crl"]}}))


@pytest.mark.parametrize(
    ("path", "wrong", "right"),
    [
        (["acme", "externalAccountBinding"], "keyId", "keyID"),
        (["acme"], "skipTlsVerify", "skipTLSVerify"),
        (["acme", "solvers", 4, "dns01"], "akamaiDns", None),
        (["acme", "solvers", 8, "dns01", "route53"], "hostedZoneId", "hostedZoneID"),
        (["acme", "solvers", 10, "dns01", "azureDNS"], "clientId", "clientID"),
    ],
)
def test_regular_spelling_of_irregular_names_is_refused(
    path: list[Any], wrong: str, right: str | None
) -> None:
    spec = copy.deepcopy(ACME_SPEC)
    node: Any = spec
    for p in path:
        node = node[p]
    node[wrong] = node.pop(right) if right else "x"
    result = load_documents(json.dumps(_issuer_doc(spec)), "t.json")
    expected_path = (
        "spec." + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)[1:] + f".{wrong}"
    )
    assert result.objects == []
    assert len(result.errors) == 1
    assert f"is invalid: {expected_path}: Invalid value: " in result.errors[0]
    assert result.errors[0].endswith(": field not declared in schema")


def test_snake_case_names_are_not_accepted_from_manifests() -> None:
    doc = _issuer_doc({"ca": {"secret_name": "ca"}})
    result = load_documents(json.dumps(doc), "t.json")
    assert result.errors == [
        't.json (document 1): Issuer "default/iss" is invalid: spec.ca.secret_name: Invalid value: "ca": '
        "field not declared in schema"
    ]


def test_issuer_status_round_trips() -> None:
    status = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "ACMEAccountRegistered",
                "message": "The ACME account was registered with the ACME server",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": 2,
            }
        ],
        "acme": {"uri": "https://acme/acct/1", "lastRegisteredEmail": "a@b.c", "lastPrivateKeyHash": "abc="},
    }
    iss = Issuer.model_validate({**_issuer_doc({"selfSigned": {}}), "status": status})
    assert iss.to_dict()["status"] == status
    assert iss.status is not None and isinstance(iss.status.acme, ACMEIssuerStatus)


ORDER = {
    "apiVersion": "acme.cert-manager.io/v1",
    "kind": "Order",
    "metadata": {"name": "o-1", "namespace": "default"},
    "spec": {
        "request": "LS0tLS1CRUdJTg==",
        "issuerRef": {"name": "le", "kind": "ClusterIssuer", "group": "cert-manager.io"},
        "commonName": "example.com",
        "dnsNames": ["example.com"],
        "ipAddresses": ["10.0.0.1"],
        "duration": "2160h",
        "profile": "tlsserver",
        "replaces": "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
    },
    "status": {
        "url": "https://acme/order/1",
        "finalizeURL": "https://acme/order/1/finalize",
        "authorizations": [
            {
                "url": "https://acme/authz/1",
                "identifier": "example.com",
                "wildcard": False,
                "initialState": "pending",
                "challenges": [{"url": "https://acme/chall/1", "token": "tok", "type": "http-01"}],
            }
        ],
        "certificate": "LS0tLS1CRUdJTg==",
        "state": "valid",
        "reason": "",
        "failureTime": "2026-01-01T00:00:00Z",
    },
}

CHALLENGE = {
    "apiVersion": "acme.cert-manager.io/v1",
    "kind": "Challenge",
    "metadata": {"name": "o-1-123", "namespace": "default"},
    "spec": {
        "url": "https://acme/chall/1",
        "authorizationURL": "https://acme/authz/1",
        "dnsName": "example.com",
        "wildcard": False,
        "type": "DNS-01",
        "token": "tok",
        "key": "a2V5",
        "solver": {"dns01": {"webhook": {"groupName": "g", "solverName": "s", "config": {"k": 1}}}},
        "issuerRef": {"name": "le", "kind": "ClusterIssuer"},
    },
    "status": {
        "processing": True,
        "presented": True,
        "presentedAt": "2026-01-01T00:00:00Z",
        "reason": "Waiting for DNS-01 challenge propagation",
        "state": "pending",
    },
}


@pytest.mark.parametrize("doc", [ORDER, CHALLENGE], ids=["Order", "Challenge"])
def test_order_and_challenge_round_trip(doc: dict[str, Any]) -> None:
    obj = _round_trip(doc)
    assert obj.to_dict()["status"] == doc["status"]
    assert validate(obj) == []


def test_order_fields_and_states() -> None:
    o = Order.model_validate(ORDER)
    assert o.status is not None and o.status.finalize_url == "https://acme/order/1/finalize"
    assert o.status.authorizations is not None and o.status.authorizations[0].initial_state == "pending"
    c = Challenge.model_validate(CHALLENGE)
    assert c.spec.authorization_url == "https://acme/authz/1"
    assert c.status is not None and c.status.presented_at == "2026-01-01T00:00:00Z"
    assert [
        s
        for s in ("valid", "ready", "pending", "processing", "invalid", "expired", "errored", "")
        if is_final_state(s)
    ] == [
        "valid",
        "invalid",
        "expired",
        "errored",
    ]
    assert is_failure_state("errored") and not is_failure_state("valid") and not is_failure_state(None)


def test_registry_knows_acme_kinds() -> None:
    assert registry.lookup("orders") is Order
    assert registry.lookup("order") is Order
    assert registry.lookup("challenges.acme.cert-manager.io") is Challenge
    assert registry.lookup("challenges.cert-manager.io") is None
    assert registry.by_api_version_kind("acme.cert-manager.io/v1", "Challenge") is Challenge
    assert Order.SHORT_NAMES == () and Challenge.SHORT_NAMES == ()
    assert Order.API_VERSION == Challenge.API_VERSION == "acme.cert-manager.io/v1"
    assert registry.lookup("ciss") is ClusterIssuer
