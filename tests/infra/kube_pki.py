"""The test control plane's keys and certificates (``tests/infra/kube.py``): a throwaway CA, the
kube-apiserver's serving certificate for ``127.0.0.1``/``localhost`` signed by it, the
service-account signing key the apiserver requires, and the front proxy's CA and client
certificate the apiserver presents to an aggregated API server (KEDA's metrics apiserver);
``write_tls_pair`` issues a CA and a certificate for a server that is its own client too (KEDA's
operator and metrics apiserver). Written with ``cryptography``, no openssl."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["FRONT_PROXY_CLIENT", "Pki", "TlsPair", "write_pki", "write_tls_pair"]

# The front proxy client certificate's CN, which --requestheader-allowed-names lists.
FRONT_PROXY_CLIENT = "front-proxy-client"


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    service_account_key: Path
    front_proxy_ca_cert: Path
    front_proxy_client_cert: Path
    front_proxy_client_key: Path


@dataclass(frozen=True)
class TlsPair:
    """``ca.crt``, ``tls.crt``, ``tls.key`` in ``directory``: the layout KEDA's cert dir has."""

    directory: Path
    ca_cert: Path
    cert: Path
    key: Path


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity() -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)


def _new_ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    valid = _validity()
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return ca, key


def _issue(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    usages: list[x509.ObjectIdentifier],
    names: list[x509.GeneralName] | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    valid = _validity()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def write_tls_pair(
    directory: Path, common_name: str, ips: list[str], dns_names: list[str]
) -> TlsPair:
    """A fresh CA and a certificate for ``ips`` and ``dns_names`` signed by it, good for serving
    and as a client: KEDA's gRPC metrics service asks its clients for a certificate from the
    same ``ca.crt`` as its own (mutual TLS), and its metrics apiserver is such a client."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _new_ca(f"{common_name}-ca")
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cert, key = _issue(ca, ca_key, common_name, usages, names)
    pair = TlsPair(directory, directory / "ca.crt", directory / "tls.crt", directory / "tls.key")
    pair.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pair.key.write_bytes(_pem_key(key))
    return pair


def write_pki(directory: Path) -> Pki:
    """Write a fresh CA, serving certificate, service-account key and the front proxy's CA and
    client certificate under ``directory``."""
    ca, ca_key = _new_ca("cdds-test-ca")
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes.default.svc"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    serving, key = _issue(ca, ca_key, "kube-apiserver", [ExtendedKeyUsageOID.SERVER_AUTH], names)
    pki = Pki(
        ca_cert=directory / "ca.crt",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        service_account_key=directory / "service-account.key",
        front_proxy_ca_cert=directory / "front-proxy-ca.crt",
        front_proxy_client_cert=directory / "front-proxy-client.crt",
        front_proxy_client_key=directory / "front-proxy-client.key",
    )
    pki.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.serving_cert.write_bytes(serving.public_bytes(serialization.Encoding.PEM))
    pki.serving_key.write_bytes(_pem_key(key))
    # Service-account tokens are signed RS256 by default: an RSA key.
    pki.service_account_key.write_bytes(
        _pem_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    )
    # The aggregation layer's own CA: an aggregated API server trusts the user named in the
    # X-Remote-User header only from a client certificate of this CA (the front proxy's).
    proxy_ca, proxy_ca_key = _new_ca("cdds-test-front-proxy-ca")
    proxy, proxy_key = _issue(
        proxy_ca, proxy_ca_key, FRONT_PROXY_CLIENT, [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    pki.front_proxy_ca_cert.write_bytes(proxy_ca.public_bytes(serialization.Encoding.PEM))
    pki.front_proxy_client_cert.write_bytes(proxy.public_bytes(serialization.Encoding.PEM))
    pki.front_proxy_client_key.write_bytes(_pem_key(proxy_key))
    return pki
