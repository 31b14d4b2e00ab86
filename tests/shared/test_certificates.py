"""Users' certificates on file, on the real MongoDB-wire server: stored, replaced and deleted per
owner; ``usable_certificate`` says precisely why an export cannot be sealed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.certificates import (
    COLLECTION,
    CertificateRecord,
    CertificateStore,
    CertificateUnusable,
    usable_certificate,
)
from cdds_shared.errors import PermanentError

pytestmark = pytest.mark.integration


@pytest.fixture
def store(documents: MongoDocumentStore) -> CertificateStore:
    return CertificateStore(documents)


@pytest.fixture
def owner() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def certificate(not_before: datetime, not_after: datetime, name: str = "alice") -> x509.Certificate:
    """A self-signed certificate valid from ``not_before`` to ``not_after``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )


def valid_for_a_year(name: str = "alice") -> x509.Certificate:
    now = datetime.now(UTC).replace(microsecond=0)
    return certificate(now - timedelta(days=1), now + timedelta(days=365), name)


# -- the store -----------------------------------------------------------------------------------


async def test_put_then_get_returns_the_record(store: CertificateStore, owner: str) -> None:
    cert = valid_for_a_year()
    record = CertificateRecord.of(owner, cert)

    await store.put(record)
    found = await store.get(owner)

    assert found == record
    assert found is not None
    assert x509.load_der_x509_certificate(found.der) == cert
    assert found.subject == "CN=alice" and found.issuer == "CN=alice"
    assert found.serial == format(cert.serial_number, "x")
    assert (found.not_before, found.not_after) == (
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
    )
    assert found.seal_mode == "gcm"


async def test_get_of_an_owner_without_certificate(store: CertificateStore, owner: str) -> None:
    assert await store.get(owner) is None


async def test_put_replaces_the_owners_certificate(
    store: CertificateStore, documents: MongoDocumentStore, owner: str
) -> None:
    # Given an owner with a certificate, and another owner
    first = CertificateRecord.of(owner, valid_for_a_year("old"))
    neighbour = CertificateRecord.of(f"{owner}-2", valid_for_a_year("neighbour"))
    await store.put(first)
    await store.put(neighbour)

    # When the owner uploads a new one (for the legacy seal)
    second = CertificateRecord.of(owner, valid_for_a_year("new"), seal_mode="legacy-cbc")
    await store.put(second)

    # Then the new one is on file, once, and the other owner's is untouched
    found = await store.get(owner)
    assert found == second
    assert found is not None and found.sha256 != first.sha256 and found.seal_mode == "legacy-cbc"
    assert await documents.collection(COLLECTION).count({"_id": owner}) == 1
    assert await store.get(neighbour.owner) == neighbour


async def test_delete(store: CertificateStore, owner: str) -> None:
    await store.put(CertificateRecord.of(owner, valid_for_a_year()))
    await store.put(CertificateRecord.of(f"{owner}-2", valid_for_a_year()))

    assert await store.delete(owner) is True
    assert await store.delete(owner) is False
    assert await store.get(owner) is None
    assert await store.get(f"{owner}-2") is not None


# -- usable_certificate --------------------------------------------------------------------------


async def test_a_valid_certificate_is_usable(store: CertificateStore, owner: str) -> None:
    record = CertificateRecord.of(owner, valid_for_a_year())
    await store.put(record)
    assert await usable_certificate(store, owner) == record


async def test_no_certificate_on_file(store: CertificateStore, owner: str) -> None:
    with pytest.raises(CertificateUnusable) as caught:
        await usable_certificate(store, owner)
    assert str(caught.value) == (
        f"no certificate on file for user {owner}: upload one in User preferences"
    )
    assert isinstance(caught.value, PermanentError)  # retrying cannot help: dead letter


async def test_an_expired_certificate(store: CertificateStore, owner: str) -> None:
    cert = certificate(datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 3, 4, 5, 6, tzinfo=UTC))
    await store.put(CertificateRecord.of(owner, cert))

    with pytest.raises(CertificateUnusable) as caught:
        await usable_certificate(store, owner)

    assert str(caught.value) == (
        f"the certificate of user {owner} expired on 2021-03-04 05:06 UTC: "
        "upload a new one in User preferences"
    )


async def test_a_certificate_not_yet_valid(store: CertificateStore, owner: str) -> None:
    now = datetime.now(UTC)
    cert = certificate(datetime(2031, 7, 8, 9, 10, tzinfo=UTC), datetime(2032, 1, 1, tzinfo=UTC))
    await store.put(CertificateRecord.of(owner, cert))

    with pytest.raises(CertificateUnusable) as caught:
        await usable_certificate(store, owner, now=now)

    assert str(caught.value) == (
        f"the certificate of user {owner} is not valid before 2031-07-08 09:10 UTC: "
        "upload a valid one in User preferences"
    )


async def test_validity_bounds_at_the_second(store: CertificateStore, owner: str) -> None:
    start, end = datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 12, 31, 23, 59, tzinfo=UTC)
    await store.put(CertificateRecord.of(owner, certificate(start, end)))

    assert (await usable_certificate(store, owner, now=start)).not_before == start
    assert (await usable_certificate(store, owner, now=end - timedelta(seconds=1))).not_after == end
    with pytest.raises(CertificateUnusable, match="expired on 2030-12-31 23:59 UTC"):
        await usable_certificate(store, owner, now=end)  # not after: the end is not included
    with pytest.raises(CertificateUnusable, match="not valid before 2030-01-01 00:00 UTC"):
        await usable_certificate(store, owner, now=start - timedelta(seconds=1))


async def test_a_replaced_certificate_is_the_one_checked(
    store: CertificateStore, owner: str
) -> None:
    # Given an expired certificate, replaced by a valid one during the run
    expired = certificate(datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))
    await store.put(CertificateRecord.of(owner, expired))
    with pytest.raises(CertificateUnusable, match="expired"):
        await usable_certificate(store, owner)
    fresh = valid_for_a_year()
    await store.put(CertificateRecord.of(owner, fresh))

    # Then sealing now uses the new one
    record = await usable_certificate(store, owner)
    assert record.der == fresh.public_bytes(Encoding.DER)
