"""Encryption of X tokens at rest with KMS (``KmsCipher``; the dev kit uses moto's KMS).

``LocalCipher`` (Fernet) is the in-memory twin the token tests run on; the
services never choose it: without a KMS key they do not start.
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
    def encrypt(self, plaintext: str) -> bytes: ...

    def decrypt(self, ciphertext: bytes) -> str: ...


class TokenDecryptError(Exception):
    pass


@dataclass
class LocalCipher:
    """Fernet with a key derived from the local signing secret."""

    secret: str

    def _fernet(self) -> Fernet:
        digest = hashlib.sha256(("followthrough-token-key:" + self.secret).encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet().encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet().decrypt(ciphertext).decode()
        except InvalidToken:
            raise TokenDecryptError("stored token does not decrypt with this key") from None


@dataclass
class KmsCipher:
    key_id: str
    context: dict[str, str]

    @cached_property
    def client(self) -> Any:
        return boto3.client("kms")

    def encrypt(self, plaintext: str) -> bytes:
        out = self.client.encrypt(KeyId=self.key_id, Plaintext=plaintext.encode(), EncryptionContext=self.context)
        blob: bytes = out["CiphertextBlob"]
        return blob

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            out = self.client.decrypt(CiphertextBlob=ciphertext, EncryptionContext=self.context)
        except self.client.exceptions.InvalidCiphertextException:
            raise TokenDecryptError("stored token does not decrypt with the KMS key") from None
        plaintext: bytes = out["Plaintext"]
        return plaintext.decode()
