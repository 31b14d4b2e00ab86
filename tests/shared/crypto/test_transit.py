"""Transit encryption of staged parts: round trips in any chunking, and every alteration of the
staged object or its wrapped key refused with ``TransitError``."""

from __future__ import annotations

import base64
import itertools
import os
import uuid
from collections.abc import Iterable, Iterator

import pytest

from cdds_shared.crypto.transit import (
    OVERHEAD,
    TransitDecryptor,
    TransitEncryptor,
    TransitError,
    TransitKey,
    part_aad,
)
from cdds_shared.errors import ConfigError, PermanentError

MiB = 1 << 20
ODD_CHUNKS = (1, 7, 11, 13, 4093, 65_537)  # straddle the 12-byte nonce and the 16-byte tag


def chunks(data: bytes, sizes: Iterable[int] = ODD_CHUNKS) -> Iterator[bytes]:
    """``data`` cut in chunks of the given sizes, cycling through them."""
    view, at = memoryview(data), 0
    for size in itertools.cycle(sizes):
        if at >= len(data):
            return
        yield bytes(view[at : at + size])
        at += size


def stage(data_key: bytes, aad: bytes, plaintext: bytes) -> bytes:
    """The staged object the exporter writes, fed to the encryptor in odd chunks."""
    enc = TransitEncryptor(data_key, aad)
    return enc.header() + b"".join(enc.update(c) for c in chunks(plaintext)) + enc.finalize()


def unstage(data_key: bytes, aad: bytes, staged: bytes, size: int | None = None) -> bytes:
    """What the encryptor reads back: plaintext, only if ``finalize`` authenticates it."""
    dec = TransitDecryptor(data_key, aad, len(staged) if size is None else size)
    plaintext = b"".join(dec.update(c) for c in chunks(staged))
    dec.finalize()
    return plaintext


@pytest.fixture
def key() -> TransitKey:
    return TransitKey(os.urandom(32))


@pytest.fixture
def aad() -> bytes:
    return part_aad(uuid.uuid4().hex[:24], 3, 7)


@pytest.mark.parametrize("size", [0, 1, 16, MiB + 5])
def test_round_trip_in_odd_chunks(key: TransitKey, aad: bytes, size: int) -> None:
    data_key, wrapped = key.new_data_key()
    plaintext = os.urandom(size)

    staged = stage(data_key, aad, plaintext)

    assert len(staged) == size + OVERHEAD
    assert size < 16 or plaintext not in staged  # nothing travels in the clear
    assert unstage(key.unwrap(wrapped), aad, staged) == plaintext


def test_each_part_gets_a_fresh_data_key_and_nonce(key: TransitKey, aad: bytes) -> None:
    (k1, w1), (k2, w2) = key.new_data_key(), key.new_data_key()
    assert k1 != k2 and w1 != w2 and len(k1) == 32
    assert stage(k1, aad, b"same") != stage(k1, aad, b"same")  # random nonce per object


def test_aad_names_run_partition_and_part() -> None:
    assert part_aad("r1", 0, 1) == b"cdds-part:r1:0:1"
    assert len({part_aad("r1", 0, 1), part_aad("r1", 1, 0), part_aad("r2", 0, 1)}) == 3


@pytest.mark.parametrize(
    "identity",
    [("other-run", 3, 7), ("same-run", 4, 7), ("same-run", 3, 8)],
    ids=["run", "partition", "part"],
)
def test_another_parts_identity_does_not_authenticate(
    key: TransitKey, identity: tuple[str, int, int]
) -> None:
    # Given a part staged under its identity
    run_id = uuid.uuid4().hex[:24]
    data_key, _ = key.new_data_key()
    staged = stage(data_key, part_aad(run_id, 3, 7), b"records of part 7")
    other_run, partition, part = identity
    wrong = part_aad(run_id if other_run == "same-run" else other_run, partition, part)
    # When it is read as another part, then it is refused
    with pytest.raises(TransitError, match="does not authenticate"):
        unstage(data_key, wrong, staged)


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag"])
def test_a_flipped_byte_is_refused(key: TransitKey, aad: bytes, where: str) -> None:
    data_key, _ = key.new_data_key()
    staged = bytearray(stage(data_key, aad, os.urandom(1000)))
    index = {"nonce": 5, "ciphertext": 12 + 500, "tag": len(staged) - 1}[where]
    staged[index] ^= 0x01
    with pytest.raises(TransitError, match="does not authenticate"):
        unstage(data_key, aad, bytes(staged))


@pytest.mark.parametrize("cut", [1, 16, 17, 1000 + OVERHEAD - 12])
def test_a_truncated_object_is_refused(key: TransitKey, aad: bytes, cut: int) -> None:
    data_key, _ = key.new_data_key()
    staged = stage(data_key, aad, os.urandom(1000))
    with pytest.raises(TransitError, match="truncated"):
        unstage(data_key, aad, staged[:-cut], size=len(staged))  # announced size, bytes missing


def test_a_truncated_object_announced_as_such_is_refused(key: TransitKey, aad: bytes) -> None:
    data_key, _ = key.new_data_key()
    staged = stage(data_key, aad, os.urandom(1000))
    with pytest.raises(TransitError):
        unstage(data_key, aad, staged[:-1])  # size announced to match: the tag is wrong


def test_shorter_than_its_envelope_is_refused(key: TransitKey, aad: bytes) -> None:
    data_key, _ = key.new_data_key()
    with pytest.raises(TransitError, match="shorter than its envelope"):
        TransitDecryptor(data_key, aad, OVERHEAD - 1)


@pytest.mark.parametrize("extra", [b"\x00", os.urandom(100)])
def test_an_extended_object_is_refused(key: TransitKey, aad: bytes, extra: bytes) -> None:
    data_key, _ = key.new_data_key()
    staged = stage(data_key, aad, os.urandom(1000))
    with pytest.raises(TransitError, match="longer than announced"):
        unstage(data_key, aad, staged + extra, size=len(staged))
    with pytest.raises(TransitError, match="does not authenticate"):
        unstage(data_key, aad, staged + extra)  # announced with the extra bytes


def test_wrapped_key_unwraps_only_with_the_same_transit_key() -> None:
    raw = os.urandom(32)
    data_key, wrapped = TransitKey(raw).new_data_key()
    assert TransitKey(raw).unwrap(wrapped) == data_key  # the encryptor's copy of the key

    with pytest.raises(TransitError, match="CDDS_TRANSIT__KEY") as caught:
        TransitKey(os.urandom(32)).unwrap(wrapped)
    assert isinstance(caught.value, PermanentError)  # dead-lettered, never retried


@pytest.mark.parametrize("wrapped", ["not base64!", base64.b64encode(b"short").decode(), "é"])
def test_a_malformed_wrapped_key_is_a_transit_error(key: TransitKey, wrapped: str) -> None:
    with pytest.raises(TransitError, match="CDDS_TRANSIT__KEY"):
        key.unwrap(wrapped)


def test_from_base64_accepts_32_bytes() -> None:
    raw = os.urandom(32)
    data_key, wrapped = TransitKey.from_base64(base64.b64encode(raw).decode()).new_data_key()
    assert TransitKey(raw).unwrap(wrapped) == data_key


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "not valid base64"),
        ("!!!!", "not valid base64"),
        (base64.b64encode(os.urandom(32)).decode()[:-2] + "\n=", "not valid base64"),
        ("", "exactly 32 bytes"),
        (base64.b64encode(os.urandom(16)).decode(), "exactly 32 bytes"),
        (base64.b64encode(os.urandom(33)).decode(), "exactly 32 bytes"),
    ],
)
def test_from_base64_refuses_bad_keys_naming_the_setting(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^CDDS_TRANSIT__KEY: .*{message}"):
        TransitKey.from_base64(value)


def test_from_base64_refuses_non_ascii_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"^CDDS_TRANSIT__KEY: "):
        TransitKey.from_base64("“" + base64.b64encode(os.urandom(32)).decode() + "”")


@pytest.mark.parametrize("size", [0, 1, 16, 4096])
def test_staged_size_is_plaintext_plus_overhead(key: TransitKey, aad: bytes, size: int) -> None:
    data_key, _ = key.new_data_key()
    enc = TransitEncryptor(data_key, aad)
    parts = [enc.header(), *(enc.update(c) for c in chunks(os.urandom(size))), enc.finalize()]
    assert sum(map(len, parts)) == size + OVERHEAD
    assert OVERHEAD == 12 + 16
