"""Workflow payloads encrypted before they leave the process: a return's addresses, email and phone
live in its history for weeks (and 30 days after it closes), on the Temporal server and its database.

    PAYLOAD_KEYS="k2026b:<base64 of 32 bytes>,k2026a:<base64 of 32 bytes>"

Each key has an id; the **first** key encrypts, every listed key decrypts. To rotate, put a new
key first and keep the old ones listed until no history that holds payloads encrypted with them
is still needed (the namespace's retention after the last return that used them closed); the key
id travels in each payload's metadata, so every payload names the key that opens it.

A payload is AES-256-GCM over the whole serialized `Payload` (its data and metadata, encoding
included), with a random 96-bit nonce per payload and the key id as associated data (a payload
moved under another id does not open). Payloads without our encoding pass through unchanged: the
histories of returns started before encryption was turned on still read.

Generate a key: `python -m integrations.payload_codec new-key`.
"""

from __future__ import annotations

import base64
import binascii
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12


class PayloadKeyError(ValueError):
    """PAYLOAD_KEYS can't be read, or a payload names a key this process does not hold."""


@dataclass(frozen=True)
class PayloadKeys:
    """The keys in force, the one that encrypts first."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise PayloadKeyError("PAYLOAD_KEYS holds no key")
        ids = [key_id for key_id, _ in self.keys]
        if len(set(ids)) != len(ids):
            raise PayloadKeyError("PAYLOAD_KEYS names a key id twice")

    @classmethod
    def parse(cls, text: str) -> PayloadKeys:
        """`id:base64key,id:base64key`; the error never repeats a key's value."""
        keys = []
        for position, entry in enumerate(part.strip() for part in text.split(",") if part.strip()):
            key_id, separator, encoded = entry.partition(":")
            if not separator or not key_id or not key_id.isascii() or not key_id.replace("-", "").isalnum():
                raise PayloadKeyError(f"PAYLOAD_KEYS entry {position + 1} is not `<key id>:<base64 key>`")
            try:
                key = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise PayloadKeyError(f"PAYLOAD_KEYS key {key_id!r} is not base64") from None
            if len(key) != KEY_BYTES:
                raise PayloadKeyError(f"PAYLOAD_KEYS key {key_id!r} has {len(key)} bytes, not {KEY_BYTES}")
            keys.append((key_id, key))
        return cls(tuple(keys))

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    @property
    def ids(self) -> list[str]:
        return [key_id for key_id, _ in self.keys]


class EncryptionCodec(PayloadCodec):
    """Encrypts with the current key, decrypts with whichever key a payload names."""

    def __init__(self, keys: PayloadKeys) -> None:
        self._current_id = keys.current_id
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys}

    @property
    def key_id(self) -> str:
        return self._current_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.encode_now(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.decode_now(payloads)

    def encode_now(self, payloads: Iterable[Payload]) -> list[Payload]:
        key_id = self._current_id
        cipher = self._ciphers[key_id]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id.encode())
            encoded.append(
                Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()}, data=nonce + sealed)
            )
        return encoded

    def decode_now(self, payloads: Iterable[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(payload)  # never encrypted (written before encryption was turned on)
                continue
            key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise PayloadKeyError(f"payload encrypted with key {key_id!r}, which PAYLOAD_KEYS does not hold")
            nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
            try:
                plain = cipher.decrypt(nonce, sealed, key_id.encode())
            except InvalidTag:
                raise PayloadKeyError(f"payload under key {key_id!r} does not open with it (altered?)") from None
            decoded.append(Payload.FromString(plain))
        return decoded


def new_key() -> str:
    return base64.b64encode(AESGCM.generate_key(bit_length=KEY_BYTES * 8)).decode()


if __name__ == "__main__":
    if sys.argv[1:] != ["new-key"]:
        raise SystemExit("usage: python -m integrations.payload_codec new-key")
    print(new_key())
