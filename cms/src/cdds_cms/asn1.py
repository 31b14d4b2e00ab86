"""The ASN.1 pieces both halves of the CMS codec share: OIDs, fixed encodings, DER headers.

asn1crypto builds and parses the small structures (RecipientInfos, AlgorithmIdentifiers); the
outer TLV headers around gigabytes of ciphertext are written here by hand.
"""

from __future__ import annotations

from asn1crypto import algos, core

__all__ = [
    "DATA",
    "EOC",
    "GCM_ICV_LENGTH",
    "GCM_NONCE_LENGTH",
    "OAEP_SHA256",
    "OID_AUTH_ENVELOPED_DATA",
    "OID_DATA",
    "OID_ENVELOPED_DATA",
    "RSA_PKCS1V15",
    "ContentEncryptionAlgorithm",
    "GcmParameters",
    "der_header",
    "der_tlv",
]

OID_DATA = "1.2.840.113549.1.7.1"  # id-data, RFC 5652 §4
OID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"  # id-envelopedData, RFC 5652 §6
OID_AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"  # id-ct-authEnvelopedData, RFC 5083 §2

DATA = core.ObjectIdentifier(OID_DATA).dump()
EOC = b"\x00\x00"  # end-of-contents of an indefinite-length element (X.690 §8.1.5)

# RFC 5084 §3.2: a 12-byte nonce is recommended; a 16-byte ICV is the strongest tag.
GCM_NONCE_LENGTH = 12
GCM_ICV_LENGTH = 16

# RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 8017 A.2.1, RFC 4055 §4.1), byte for byte as
# OpenSSL 3 writes it: SHA-256 identifiers without parameters (RFC 4055 §2.1), default pSource.
# A constant because asn1crypto would add NULL parameters to the digest identifiers.
OAEP_SHA256 = bytes.fromhex(
    "3038"
    "06092a864886f70d010107"  # id-RSAES-OAEP
    "302b"
    "a00d300b0609608648016503040201"  # [0] hashFunc: sha256
    "a11a301806092a864886f70d010108"  # [1] maskGenFunc: id-mgf1 ...
    "300b0609608648016503040201"  # ... with sha256
)
# rsaEncryption (RSAES-PKCS1-v1_5, RFC 8017 §7.2) with NULL parameters, as OpenSSL writes it.
RSA_PKCS1V15 = bytes.fromhex("300d06092a864886f70d0101010500")


class GcmParameters(core.Sequence):  # type: ignore[misc]
    """GCMParameters, RFC 5084 §3.2 (the same shape as CCMParameters)."""

    _fields = [
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer, {"default": 12}),
    ]


class ContentEncryptionAlgorithm(algos.EncryptionAlgorithm):  # type: ignore[misc]
    """``EncryptionAlgorithm`` that also knows the AES-GCM parameters (RFC 5084 §3.2).

    A subclass rather than a patch of asn1crypto's table, so importing this module changes no
    global state.
    """

    _oid_specs = {
        **algos.EncryptionAlgorithm._oid_specs,
        "aes128_gcm": GcmParameters,
        "aes192_gcm": GcmParameters,
        "aes256_gcm": GcmParameters,
    }


def der_header(tag: int, length: int) -> bytes:
    """Identifier and definite-length octets of one DER element (X.690 §8.1.3)."""
    if length < 0x80:
        return bytes((tag, length))
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets


def der_tlv(tag: int, contents: bytes) -> bytes:
    """One complete DER element."""
    return der_header(tag, len(contents)) + contents
