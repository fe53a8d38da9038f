"""Encryption of X tokens at rest with KMS (``KmsCipher``; local runs use a KMS stand-in).

``LocalCipher`` (Fernet) is the in-memory twin the token tests run on; the
services never choose it: without a KMS key they do not start. Each
ciphertext is bound to its subscriber (KMS: the encryption context; locally:
a key per subscriber), so a ciphertext copied onto another subscriber's item
does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import boto3
from cryptography.fernet import Fernet, InvalidToken


class TokenCipher(Protocol):
    def encrypt(self, plaintext: str, subscriber_id: str) -> bytes: ...

    def decrypt(self, ciphertext: bytes, subscriber_id: str) -> str: ...


class TokenDecryptError(Exception):
    """The stored ciphertext cannot be decrypted with the current key (e.g. the key changed)."""


@dataclass
class LocalCipher:
    """Fernet with a key derived from the local signing secret and the subscriber id."""

    secret: str

    def _fernet(self, subscriber_id: str) -> Fernet:
        digest = hashlib.sha256(f"followthrough-token-key:{self.secret}\n{subscriber_id}".encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, plaintext: str, subscriber_id: str) -> bytes:
        return self._fernet(subscriber_id).encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes, subscriber_id: str) -> str:
        try:
            return self._fernet(subscriber_id).decrypt(ciphertext).decode()
        except InvalidToken:
            raise TokenDecryptError("stored token does not decrypt with this key") from None


# What tokens were encrypted with before they were bound to their subscriber (until 2026-12-01). X access
# tokens last two hours, so the collector re-encrypts every active subscriber's pair within a week; remove
# this fallback once no such ciphertext is left.
LEGACY_CONTEXT = {"purpose": "x-oauth-token"}


@dataclass
class KmsCipher:
    key_id: str
    purpose: str = "x-oauth-token"

    @cached_property
    def client(self) -> Any:
        return boto3.client("kms")

    def context(self, subscriber_id: str) -> dict[str, str]:
        return {"purpose": self.purpose, "subscriber_id": subscriber_id}

    def encrypt(self, plaintext: str, subscriber_id: str) -> bytes:
        out = self.client.encrypt(
            KeyId=self.key_id, Plaintext=plaintext.encode(), EncryptionContext=self.context(subscriber_id)
        )
        blob: bytes = out["CiphertextBlob"]
        return blob

    def decrypt(self, ciphertext: bytes, subscriber_id: str) -> str:
        client = self.client
        try:
            out = client.decrypt(CiphertextBlob=ciphertext, EncryptionContext=self.context(subscriber_id))
        except client.exceptions.InvalidCiphertextException:
            try:
                out = client.decrypt(CiphertextBlob=ciphertext, EncryptionContext=LEGACY_CONTEXT)
            except client.exceptions.InvalidCiphertextException:
                raise TokenDecryptError("stored token does not decrypt with the KMS key") from None
        plaintext: bytes = out["Plaintext"]
        return plaintext.decode()
