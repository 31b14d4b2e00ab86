"""`/api/v1/me`: who is signed in, and the certificate files are sealed for — every refusal with
its precise reason, PEM or DER, raw or multipart, bounded in size."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.gateway.conftest import Gateway, SignedInUser, new_user, rsa_certificate, sign_in

pytestmark = pytest.mark.integration

PEM = {"Content-Type": "application/x-pem-file"}
URL = "/api/v1/me/certificate"


def certificate(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    key_usage: x509.KeyUsage | None = None,
) -> x509.Certificate:
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=1))
        .not_valid_after(not_after or now + timedelta(days=365))
    )
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    return builder.sign(key, hashes.SHA256())


def usage(*, key_encipherment: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def rsa_2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# -- who am I ------------------------------------------------------------------------------------


async def test_me_without_a_certificate(client: httpx.AsyncClient, exporter: SignedInUser) -> None:
    response = await client.get("/api/v1/me", headers=exporter.bearer)

    assert response.status_code == 200
    assert response.json() == {
        "user_id": exporter.user.id,
        "username": exporter.username,
        "tenant": exporter.tenant.name,
        "roles": ["exporter"],
        "certificate": None,
        "preferences": {"seal_mode": "gcm"},
        "kind": "user",
        "integration": None,
    }
    missing = await client.get(URL, headers=exporter.bearer)
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "no_certificate", "detail": "upload one in User preferences"},
    )


# -- accepted ------------------------------------------------------------------------------------


async def test_upload_a_pem_certificate(client: httpx.AsyncClient, exporter: SignedInUser) -> None:
    cert, data = rsa_certificate(name="alice")

    response = await client.put(URL, content=data, headers={**exporter.bearer, **PEM})

    assert response.status_code == 200, response.text
    details = response.json()
    assert details["subject"] == details["issuer"] == "CN=alice"
    assert details["serial"] == format(cert.serial_number, "x")
    assert details["sha256"] == cert.fingerprint(hashes.SHA256()).hex()
    assert datetime.fromisoformat(details["not_after"]) == cert.not_valid_after_utc
    assert details["expires_in_days"] in (364, 365)
    assert (details["expiring_soon"], details["expired"], details["seal_mode"]) == (
        False,
        False,
        "gcm",
    )
    assert (await client.get(URL, headers=exporter.bearer)).json() == details
    me = await client.get("/api/v1/me", headers=exporter.bearer)
    assert me.json()["certificate"] == details


async def test_upload_a_der_certificate_with_any_content_type(
    client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    cert, _ = rsa_certificate()
    der = cert.public_bytes(serialization.Encoding.DER)
    for content_type in ("application/pkix-cert", "application/x-www-form-urlencoded", None):
        headers = {**exporter.bearer, **({"Content-Type": content_type} if content_type else {})}
        response = await client.put(URL, content=der, headers=headers)
        assert response.status_code == 200, (content_type, response.text)
        assert response.json()["sha256"] == cert.fingerprint(hashes.SHA256()).hex()


async def test_upload_as_a_multipart_form(
    client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    cert, data = rsa_certificate()

    response = await client.put(
        URL, files={"file": ("me.pem", data, "application/x-pem-file")}, headers=exporter.bearer
    )

    assert response.status_code == 200, response.text
    assert response.json()["sha256"] == cert.fingerprint(hashes.SHA256()).hex()
    no_file = await client.put(
        URL, data={"other": "x"}, files={"x": ("a", b"b")}, headers=exporter.bearer
    )
    assert (no_file.status_code, no_file.json()) == (
        422,
        {"error": "invalid_certificate", "detail": "no file in the form field 'file'"},
    )


async def test_a_key_usage_with_key_encipherment_is_accepted(
    client: httpx.AsyncClient, exporter: SignedInUser, rsa_2048: rsa.RSAPrivateKey
) -> None:
    data = pem(certificate(rsa_2048, key_usage=usage(key_encipherment=True)))
    assert (await client.put(URL, content=data, headers=exporter.bearer)).status_code == 200


async def test_a_new_certificate_replaces_the_old_one(
    gateway: Gateway, client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    first, first_pem = rsa_certificate(name="first")
    second, second_pem = rsa_certificate(name="second")
    await client.put(URL, content=first_pem, headers=exporter.bearer)

    response = await client.put(URL, content=second_pem, headers=exporter.bearer)

    assert response.json()["subject"] == "CN=second"
    assert (await client.get(URL, headers=exporter.bearer)).json()["subject"] == "CN=second"
    stored = gateway.deps.documents.collection("certificates")
    assert await stored.count({"_id": exporter.user.id}) == 1
    [latest, earlier] = await gateway.deps.audit.find(
        actor=exporter.username, action="certificate.put"
    )
    assert latest.detail["replaced"] == first.fingerprint(hashes.SHA256()).hex()
    assert latest.detail["sha256"] == second.fingerprint(hashes.SHA256()).hex()
    assert earlier.detail["replaced"] is None
    assert (latest.outcome, latest.tenant, latest.target) == (
        "success",
        exporter.tenant.name,
        exporter.user.id,
    )


async def test_a_certificate_expiring_within_30_days_is_flagged(
    client: httpx.AsyncClient, exporter: SignedInUser, rsa_2048: rsa.RSAPrivateKey
) -> None:
    now = datetime.now(UTC)
    soon = pem(certificate(rsa_2048, not_after=now + timedelta(days=10, hours=1)))

    details = (await client.put(URL, content=soon, headers=exporter.bearer)).json()

    assert (details["expiring_soon"], details["expires_in_days"], details["expired"]) == (
        True,
        10,
        False,
    )


async def test_certificates_are_per_user(
    gateway: Gateway, client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    other = await sign_in(client, await new_user(gateway, exporter.tenant))
    await client.put(URL, content=rsa_certificate()[1], headers=exporter.bearer)

    assert (await client.get(URL, headers=other.bearer)).status_code == 404


# -- refused -------------------------------------------------------------------------------------


def _two(key: rsa.RSAPrivateKey) -> bytes:
    return pem(certificate(key)) + pem(certificate(key))


def _with_private_key(key: rsa.RSAPrivateKey) -> bytes:
    secret = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem(certificate(key)) + secret


REFUSALS = {
    "empty": (lambda k: b"", "the file is empty: upload an X.509 certificate (PEM or DER)"),
    "blank": (lambda k: b" \n\t", "the file is empty: upload an X.509 certificate (PEM or DER)"),
    "garbage": (
        lambda k: b"\x00\x01 garbage \xff" * 10,
        "not an X.509 certificate in PEM or DER form",
    ),
    "text": (
        lambda k: "🙂 not a certificate".encode(),
        "not an X.509 certificate in PEM or DER form",
    ),
    "broken-pem": (
        lambda k: b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
        "not an X.509 certificate in PEM or DER form",
    ),
    "csr": (
        lambda k: b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        "not an X.509 certificate: the PEM data has no CERTIFICATE block",
    ),
    "expired": (
        lambda k: pem(
            certificate(
                k,
                not_before=datetime(2020, 1, 1, tzinfo=UTC),
                not_after=datetime(2021, 3, 4, 5, 6, tzinfo=UTC),
            )
        ),
        "the certificate expired on 2021-03-04 05:06 UTC",
    ),
    "not-yet-valid": (
        lambda k: pem(
            certificate(
                k,
                not_before=datetime(2040, 7, 8, 9, 10, tzinfo=UTC),
                not_after=datetime(2041, 1, 1, tzinfo=UTC),
            )
        ),
        "the certificate is not valid before 2040-07-08 09:10 UTC",
    ),
    "rsa-1024": (
        lambda k: pem(certificate(rsa.generate_private_key(public_exponent=65537, key_size=1024))),  # noqa: S505 - the point
        "the certificate's RSA key has 1024 bits; at least 2048 are required",
    ),
    "ec": (
        lambda k: pem(certificate(ec.generate_private_key(ec.SECP256R1()))),
        "the certificate's key is EC (secp256r1); sealing needs an RSA key",
    ),
    "two-certificates": (_two, "expected one X.509 certificate, found 2 in the PEM data"),
    "no-key-encipherment": (
        lambda k: pem(certificate(k, key_usage=usage(key_encipherment=False))),
        "the certificate's keyUsage does not permit keyEncipherment, which sealing files for it"
        " needs",
    ),
    "private-key": (
        _with_private_key,
        "the file contains a private key: upload only the certificate, and keep the key to "
        "yourself",
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
async def test_refusals_say_precisely_why(
    gateway: Gateway,
    client: httpx.AsyncClient,
    exporter: SignedInUser,
    rsa_2048: rsa.RSAPrivateKey,
    case: str,
) -> None:
    make, detail = REFUSALS[case]
    good = rsa_certificate()[1]
    await client.put(URL, content=good, headers=exporter.bearer)

    response = await client.put(URL, content=make(rsa_2048), headers=exporter.bearer)

    assert (response.status_code, response.json()) == (
        422,
        {"error": "invalid_certificate", "detail": detail},
    )
    kept = await client.get(URL, headers=exporter.bearer)  # the previous one stays
    assert kept.json()["subject"] == "CN=cdds-test"
    [refusal, _] = await gateway.deps.audit.find(actor=exporter.username, action="certificate.put")
    assert (refusal.outcome, refusal.detail) == ("failure", {"reason": detail})


async def test_a_10_mb_upload_is_refused_unread(
    gateway: Gateway, client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    limit = gateway.settings.gateway.certificate_max_bytes
    sent = 0

    async def ten_megabytes() -> AsyncIterator[bytes]:  # streamed: no Content-Length
        nonlocal sent
        for _ in range(160):
            sent += 65536
            yield b"\x30" * 65536

    response = await client.put(URL, content=ten_megabytes(), headers=exporter.bearer)

    assert (response.status_code, response.json()) == (
        413,
        {"error": "too_large", "detail": f"the certificate file is larger than {limit} bytes"},
    )
    assert sent <= limit + 2 * 65536  # the gateway stopped reading
    [event] = await gateway.deps.audit.find(actor=exporter.username, action="certificate.put")
    assert (event.outcome, event.detail) == ("failure", {"reason": "too_large"})


async def test_a_declared_length_over_the_limit_is_refused(
    gateway: Gateway, client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    limit = gateway.settings.gateway.certificate_max_bytes
    for body, files in [
        (b"0" * (limit + 1), None),
        (None, {"file": ("big.pem", b"0" * (limit + 1))}),
    ]:
        response = await client.put(URL, content=body, files=files, headers=exporter.bearer)
        assert (response.status_code, response.json()["error"]) == (413, "too_large")


# -- preferences ---------------------------------------------------------------------------------


async def test_the_seal_mode_preference_follows_the_certificate(
    client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    await client.put(URL, content=rsa_certificate()[1], headers=exporter.bearer)

    response = await client.put(
        "/api/v1/me/preferences", json={"seal_mode": "legacy-cbc"}, headers=exporter.bearer
    )

    assert (response.status_code, response.json()) == (200, {"seal_mode": "legacy-cbc"})
    assert (await client.get(URL, headers=exporter.bearer)).json()["seal_mode"] == "legacy-cbc"
    # A replacement certificate keeps the preference
    replaced = await client.put(URL, content=rsa_certificate()[1], headers=exporter.bearer)
    assert replaced.json()["seal_mode"] == "legacy-cbc"
    me = await client.get("/api/v1/me", headers=exporter.bearer)
    assert me.json()["preferences"] == {"seal_mode": "legacy-cbc"}
    bad = await client.put(
        "/api/v1/me/preferences", json={"seal_mode": "rot13"}, headers=exporter.bearer
    )
    assert bad.status_code == 422
