"""CMS sealing: what we write opens with stock OpenSSL 3, looks like what OpenSSL writes, and
what OpenSSL writes opens with ``Opener``; tampering is caught; memory stays flat.

OpenSSL note: on a bad GCM tag ``openssl cms -decrypt`` exits non-zero (4) but still writes the
unauthenticated plaintext to ``-out``; readers must not trust that file.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import re
import shutil
import subprocess
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from cdds_cms import (
    CmsError,
    IntegrityError,
    InvalidRecipient,
    Opener,
    Recipient,
    Sealer,
    SealMode,
    envelope_overhead,
    sealed_size,
)

MiB = 1 << 20
OPENSSL = shutil.which("openssl")
# The exact arguments OpenSSL needs to write what gcm mode writes (our reference structure).
OPENSSL_GCM = ["-aes-256-gcm", "-keyopt", "rsa_padding_mode:oaep"]
OPENSSL_GCM += ["-keyopt", "rsa_oaep_md:sha256", "-keyopt", "rsa_mgf1_md:sha256"]


# --- helpers (also used by tests/client/test_decrypt.py) ------------------------------


@dataclass(frozen=True)
class Identity:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def recipient(self) -> Recipient:
        return Recipient(self.certificate)

    def write(self, directory: Path, passphrase: bytes | None = None) -> tuple[Path, Path]:
        """Write ``key.pem`` (PKCS#8, encrypted if ``passphrase``) and ``cert.pem``."""
        directory.mkdir(parents=True, exist_ok=True)
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        key_path, cert_path = directory / "key.pem", directory / "cert.pem"
        key_path.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
            )
        )
        cert_path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        return key_path, cert_path


def self_signed(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, name: str) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def make_identity(bits: int = 2048, name: str = "alice") -> Identity:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return Identity(key, self_signed(key, name))


def seal(recipient: Recipient, data: bytes, mode: SealMode = "gcm", chunk: int = 65536) -> bytes:
    sealer = Sealer(recipient, len(data), mode=mode)
    parts = [sealer.header()]
    parts += [sealer.update(data[i : i + chunk]) for i in range(0, len(data), chunk)]
    parts.append(sealer.finalize())
    sealed = b"".join(parts)
    assert len(sealed) == sealer.total_size == sealed_size(recipient, len(data), mode)
    return sealed


def open_sealed(
    key: rsa.RSAPrivateKey, sealed: bytes, chunks: Iterator[int] | None = None
) -> bytes:
    opener, out, position = Opener(key), [], 0
    for size in chunks or itertools.repeat(MiB):
        if position >= len(sealed):
            break
        out.append(opener.update(sealed[position : position + size]))
        position += size
    opener.finalize()
    return b"".join(out)


def openssl(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL, "the openssl CLI (3.x) is needed for the interoperability tests"
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, check=False)


def openssl_decrypt(command: str, sealed: Path, key: Path, out: Path) -> int:
    """``openssl cms|smime -decrypt -binary -inform DER``; return the exit status."""
    args = [command, "-decrypt", "-binary", "-inform", "DER", "-in", sealed, "-inkey", key]
    return openssl(*args, "-out", out).returncode


def openssl_encrypt(plain: Path, cert: Path, out: Path, *options: str) -> None:
    args = ["cms", "-encrypt", "-binary", "-outform", "DER", "-in", plain, "-recip", cert]
    done = openssl(*args, *options, "-out", out)
    assert done.returncode == 0, done.stderr.decode()


def flip(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alice() -> Identity:
    return make_identity(2048, "alice")


@pytest.fixture(scope="module")
def bob() -> Identity:
    return make_identity(3072, "bob")


@pytest.fixture
def alice_files(alice: Identity, tmp_path: Path) -> tuple[Path, Path]:
    return alice.write(tmp_path / "alice")


# --- OpenSSL opens what we seal --------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, MiB + 3])
@pytest.mark.parametrize("mode", ["gcm", "legacy-cbc"])
def test_openssl_cms_opens_our_output(
    alice: Identity, alice_files: tuple[Path, Path], tmp_path: Path, size: int, mode: SealMode
) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    sealed = tmp_path / "part.zip.p7m"
    sealed.write_bytes(seal(alice.recipient, data, mode))

    assert openssl_decrypt("cms", sealed, alice_files[0], tmp_path / "out") == 0
    assert (tmp_path / "out").read_bytes() == data


@pytest.mark.parametrize("size", [0, 17, MiB + 3])
def test_openssl_smime_opens_legacy_cbc(
    alice: Identity, alice_files: tuple[Path, Path], tmp_path: Path, size: int
) -> None:
    data = b"\x5a" * size
    sealed = tmp_path / "part.p7m"
    sealed.write_bytes(seal(alice.recipient, data, "legacy-cbc"))

    assert openssl_decrypt("smime", sealed, alice_files[0], tmp_path / "out") == 0
    assert (tmp_path / "out").read_bytes() == data


def test_a_20_mib_stream_in_odd_chunks_opens_with_openssl_and_opener(
    bob: Identity, tmp_path: Path
) -> None:
    data = hashlib.shake_256(b"cdds").digest(20 * MiB + 11)
    odd = itertools.cycle([1, 7, 4093, 65537, MiB - 1, 3 * MiB + 5])
    sealer = Sealer(bob.recipient, len(data), mode="gcm")
    sealed = tmp_path / "big.p7m"
    with sealed.open("wb") as sink:
        sink.write(sealer.header())
        position = 0
        while position < len(data):
            size = next(odd)
            sink.write(sealer.update(data[position : position + size]))
            position += size
        sink.write(sealer.finalize())
    key_path, _ = bob.write(tmp_path / "bob")

    assert sealed.stat().st_size == sealer.total_size
    assert openssl_decrypt("cms", sealed, key_path, tmp_path / "out") == 0
    assert hashlib.sha256((tmp_path / "out").read_bytes()).digest() == hashlib.sha256(data).digest()
    assert open_sealed(bob.key, sealed.read_bytes(), odd) == data


# --- our structure is OpenSSL's --------------------------------------------------------


def _printed(path: Path) -> str:
    """``openssl cms -cmsout -print`` without the random parts (hex dumps)."""
    done = openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", path)
    assert done.returncode == 0, done.stderr.decode()
    text = re.sub(r"\[HEX DUMP\]:[0-9A-F]+", "[HEX]", done.stdout.decode())
    return "\n".join(line for line in text.splitlines() if not re.match(r"\s+[0-9a-f]{4} - ", line))


@pytest.mark.parametrize(
    ("mode", "options"),
    [("gcm", OPENSSL_GCM), ("legacy-cbc", ["-aes-256-cbc"])],  # CBC: PKCS#1 v1.5 transport
)
def test_structure_matches_openssl(
    alice: Identity,
    alice_files: tuple[Path, Path],
    tmp_path: Path,
    mode: SealMode,
    options: list[str],
) -> None:
    data = b"x" * 1000
    (tmp_path / "plain").write_bytes(data)
    openssl_encrypt(tmp_path / "plain", alice_files[1], tmp_path / "theirs.der", *options)
    (tmp_path / "ours.der").write_bytes(seal(alice.recipient, data, mode))

    assert _printed(tmp_path / "ours.der") == _printed(tmp_path / "theirs.der")
    ours, theirs = (
        asn1_cms.ContentInfo.load((tmp_path / name).read_bytes())
        for name in ("ours.der", "theirs.der")
    )
    assert ours["content_type"].dotted == theirs["content_type"].dotted
    ours_ri, theirs_ri = (c["content"]["recipient_infos"][0].chosen for c in (ours, theirs))
    assert ours_ri["version"].native == theirs_ri["version"].native == "v0"
    assert ours_ri["rid"].name == theirs_ri["rid"].name == "issuer_and_serial_number"
    assert ours_ri["rid"].chosen.dump() == theirs_ri["rid"].chosen.dump()
    # Algorithm identifiers carry no randomness: they must be identical to the byte.
    assert (
        ours_ri["key_encryption_algorithm"].dump() == theirs_ri["key_encryption_algorithm"].dump()
    )
    assert len(ours_ri["encrypted_key"].native) == len(theirs_ri["encrypted_key"].native) == 256


def test_gcm_parameters_and_mac_are_rfc_5084(alice: Identity) -> None:
    content = asn1_cms.ContentInfo.load(seal(alice.recipient, b"abc"))
    assert content["content_type"].native == "authenticated_enveloped_data"
    body = content["content"]
    algorithm = body["auth_encrypted_content_info"]["content_encryption_algorithm"]
    assert algorithm["algorithm"].dotted == "2.16.840.1.101.3.4.1.46"  # id-aes256-GCM
    # GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING (12), aes-ICVlen INTEGER (16) }
    assert algorithm["parameters"].dump()[:4] == bytes.fromhex("3011040c")
    assert algorithm["parameters"].dump()[-3:] == bytes.fromhex("020110")
    assert body["auth_attrs"].native is None
    assert len(body["mac"].native) == 16


# --- Opener --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["gcm", "legacy-cbc"])
@pytest.mark.parametrize("size", [0, 1, 16, 17, 300_001])
def test_opener_round_trips_in_any_chunking(alice: Identity, mode: SealMode, size: int) -> None:
    data = hashlib.shake_256(str(size).encode()).digest(size) if size else b""
    sealed = seal(alice.recipient, data, mode, chunk=999)
    chunkings = [itertools.cycle([3, 1, 250, 4096])]
    if size < 100:
        chunkings.append(itertools.repeat(1))  # every parser step sees one byte at a time
    for chunks in chunkings:
        assert open_sealed(alice.key, sealed, chunks) == data


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("gcm-oaep", OPENSSL_GCM),
        ("gcm-oaep-stream", [*OPENSSL_GCM, "-stream"]),  # BER: indefinite, segmented content
        ("cbc-pkcs1", ["-aes-256-cbc"]),
        ("cbc-oaep", ["-aes-256-cbc", *OPENSSL_GCM[1:]]),
        ("aes128-gcm-pkcs1-stream", ["-aes-128-gcm", "-stream"]),
    ],
)
def test_opener_reads_openssl_output(
    alice: Identity, alice_files: tuple[Path, Path], tmp_path: Path, name: str, options: list[str]
) -> None:
    data = hashlib.shake_256(name.encode()).digest(3 * MiB + 7)
    (tmp_path / "plain").write_bytes(data)
    openssl_encrypt(tmp_path / "plain", alice_files[1], tmp_path / "sealed", *options)

    sealed = (tmp_path / "sealed").read_bytes()
    assert open_sealed(alice.key, sealed, itertools.cycle([5, 65536, MiB + 1])) == data


def _gcm_layout(recipient: Recipient, size: int) -> tuple[int, int]:
    """(offset of the first ciphertext byte, offset of the first tag byte)."""
    header = sealed_size(recipient, size) - size - 18
    return header, header + size + 2


@pytest.mark.parametrize("where", ["ciphertext", "tag"])
def test_a_flipped_byte_fails_here_and_in_openssl(
    alice: Identity, alice_files: tuple[Path, Path], tmp_path: Path, where: str
) -> None:
    data = b"confidential " * 1000
    content, tag = _gcm_layout(alice.recipient, len(data))
    tampered = flip(seal(alice.recipient, data), content + 77 if where == "ciphertext" else tag + 5)

    with pytest.raises(IntegrityError, match="authentication tag does not match"):
        open_sealed(alice.key, tampered)
    (tmp_path / "tampered.p7m").write_bytes(tampered)
    assert openssl_decrypt("cms", tmp_path / "tampered.p7m", alice_files[0], tmp_path / "out") != 0
    # ... and yet OpenSSL leaves the unauthenticated plaintext in -out.
    assert (tmp_path / "out").stat().st_size == len(data)


@pytest.mark.parametrize("keep", [0, 1, 100, 5000, -18, -1])
def test_a_truncated_file_fails(alice: Identity, keep: int) -> None:
    sealed = seal(alice.recipient, b"z" * 10_000)
    with pytest.raises(IntegrityError, match="file is truncated"):
        open_sealed(alice.key, sealed[:keep])


def test_a_flipped_byte_in_the_structure_is_reported(alice: Identity) -> None:
    sealed = seal(alice.recipient, b"z" * 100)
    with pytest.raises(IntegrityError, match="not a CMS file this tool can read"):
        open_sealed(alice.key, flip(sealed, 0))  # SEQUENCE -> tag 0x31
    with pytest.raises(IntegrityError, match="not a CMS file this tool can read"):
        open_sealed(alice.key, sealed + b"\x00")
    version = sealed.index(bytes.fromhex("020100")) + 2  # the first INTEGER
    with pytest.raises(IntegrityError, match="version is not 0"):
        open_sealed(alice.key, flip(sealed, version))


@pytest.mark.parametrize(
    "garbage",
    [b"-----BEGIN PKCS7-----\nMIIB\n", b"PK\x03\x04rest-of-a-zip", b"\x30\x03\x06\x01\x00"],
)
def test_other_files_are_refused(alice: Identity, garbage: bytes) -> None:
    with pytest.raises(IntegrityError, match="not a CMS file this tool can read") as caught:
        open_sealed(alice.key, garbage)
    assert isinstance(caught.value, CmsError)


def test_id_data_is_not_enveloped(alice: Identity) -> None:
    plain = asn1_cms.ContentInfo({"content_type": "data", "content": b"hello"}).dump()
    with pytest.raises(IntegrityError, match="is not"):
        open_sealed(alice.key, plain)


@pytest.mark.parametrize("mode", ["gcm", "legacy-cbc"])
def test_another_key_is_told_so(alice: Identity, bob: Identity, mode: SealMode) -> None:
    sealed = seal(alice.recipient, b"for alice", mode)
    with pytest.raises(IntegrityError) as caught:
        open_sealed(bob.key, sealed)
    expected = {IntegrityError.WRONG_KEY}
    if mode == "legacy-cbc":  # PKCS#1 v1.5 implicit rejection may yield a 32-byte "key"
        expected.add(IntegrityError.BAD_PADDING)
    assert str(caught.value) in expected


# --- sizes and the Sealer's contract ---------------------------------------------------

BOUNDARIES = [0, 1, 15, 16, 17, 100, 127, 128, 255, 256, 65535, 65536, 2**24 - 1, 2**24, 2**30]


@pytest.mark.parametrize("mode", ["gcm", "legacy-cbc"])
def test_envelope_overhead_bounds_every_size(
    alice: Identity, bob: Identity, mode: SealMode
) -> None:
    for recipient in (alice.recipient, bob.recipient):
        for limit in BOUNDARIES:
            bound = envelope_overhead(recipient, limit, mode)
            sizes = {n for n in BOUNDARIES if n <= limit} | {max(limit - d, 0) for d in range(17)}
            for n in sizes:
                assert sealed_size(recipient, n, mode) - n <= bound, (limit, n)
            assert sealed_size(recipient, limit, mode) - limit >= bound - 16


def test_total_size_is_known_before_any_data(alice: Identity) -> None:
    sealer = Sealer(alice.recipient, 2**30, mode="gcm")  # 1 GiB, nothing encrypted yet
    assert sealer.total_size == len(sealer.header()) + 2**30 + 18
    assert sealer.total_size == sealed_size(alice.recipient, 2**30)


def test_the_declared_length_is_enforced(alice: Identity) -> None:
    short = Sealer(alice.recipient, 10)
    short.header()
    short.update(b"123")
    with pytest.raises(ValueError, match="3 content bytes but 10"):
        short.finalize()
    long = Sealer(alice.recipient, 2)
    long.header()
    with pytest.raises(ValueError, match="more than the declared 2"):
        long.update(b"123")
    with pytest.raises(RuntimeError):
        Sealer(alice.recipient, 0).update(b"")  # header() first


# --- Recipient ---------------------------------------------------------------------


def test_recipient_loads_pem_and_der_and_fingerprints_like_openssl(
    alice: Identity, alice_files: tuple[Path, Path]
) -> None:
    pem = alice_files[1].read_bytes()
    der = alice.certificate.public_bytes(serialization.Encoding.DER)
    assert Recipient.load(pem) == Recipient.load(der)
    done = openssl("x509", "-in", alice_files[1], "-noout", "-fingerprint", "-sha256")
    expected = done.stdout.decode().split("=", 1)[1].strip().replace(":", "").lower()
    assert Recipient.load(pem).fingerprint_sha256 == expected


def test_recipient_refuses_what_it_cannot_seal_for(alice: Identity, bob: Identity) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = self_signed(ec_key, "eve").public_bytes(serialization.Encoding.PEM)
    small_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    small_pem = self_signed(small_key, "old").public_bytes(serialization.Encoding.PEM)
    two = b"".join(i.certificate.public_bytes(serialization.Encoding.PEM) for i in (alice, bob))
    cases = {
        ec_pem: "needs an RSA key",
        small_pem: "1024 bits; at least 2048",
        two: "expected one X.509 certificate, found 2",
        b"not a certificate": "not an X.509 certificate",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n": "not an X.509",
    }
    for data, message in cases.items():
        with pytest.raises(InvalidRecipient, match=message):
            Recipient.load(data)


# --- memory ----------------------------------------------------------------------------


def test_sealing_and_opening_64_mib_keep_memory_flat(alice: Identity) -> None:
    chunk = hashlib.shake_256(b"chunk").digest(MiB)
    size = 64 * MiB
    tracemalloc.start()
    try:
        sealer = Sealer(alice.recipient, size)
        opener = Opener(alice.key)
        opened = len(opener.update(sealer.header()))
        for _ in range(size // MiB):
            opened += len(opener.update(sealer.update(chunk)))
        opened += len(opener.update(sealer.finalize()))
        opener.finalize()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert opened == size
    assert peak < 6 * MiB, f"peak {peak} bytes for {size} bytes sealed and opened"
