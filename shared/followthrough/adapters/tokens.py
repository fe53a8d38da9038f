"""Encryption of X tokens at rest: KMS in AWS, a local Fernet key for the embedded default.

Two implementations of one small protocol, because the embedded default runs
without a KMS key and without AWS.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cache
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

    @staticmethod
    @cache
    def _client() -> Any:
        return boto3.client("kms")

    def encrypt(self, plaintext: str) -> bytes:
        out = self._client().encrypt(KeyId=self.key_id, Plaintext=plaintext.encode(), EncryptionContext=self.context)
        blob: bytes = out["CiphertextBlob"]
        return blob

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            out = self._client().decrypt(CiphertextBlob=ciphertext, EncryptionContext=self.context)
        except self._client().exceptions.InvalidCiphertextException:
            raise TokenDecryptError("stored token does not decrypt with the KMS key") from None
        plaintext: bytes = out["Plaintext"]
        return plaintext.decode()


def cipher_for(kms_key_id: str, local_secret: str) -> TokenCipher:
    if kms_key_id:
        return KmsCipher(kms_key_id, {"purpose": "x-oauth-token"})
    return LocalCipher(local_secret)
