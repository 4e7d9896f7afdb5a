"""Keyed hashes, tokens, passwords and encryption at rest, all from the one secret key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_secret = b""
_hasher = PasswordHasher()


def configure(secret_key: str) -> None:
    global _secret
    _secret = secret_key.encode()
    _aes.cache_clear()


def keyed_hash(purpose: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` under a key derived for ``purpose`` (hex)."""
    if not _secret:
        raise RuntimeError("security.configure() was not called")
    key = hmac.new(_secret, purpose.encode(), hashlib.sha256).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """Tokens are stored only as their SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


# A hash to verify against when the account does not exist, so timing tells nothing.
DUMMY_PASSWORD_HASH = _hasher.hash("canyu-no-such-account")


@cache
def _aes() -> AESGCM:
    key = hmac.new(_secret, b"encryption-at-rest", hashlib.sha256).digest()
    return AESGCM(key)


def encrypt(plaintext: str) -> str:
    """AES-256-GCM with a random nonce; for ID numbers and other data kept encrypted."""
    nonce = os.urandom(12)
    sealed = _aes().encrypt(nonce, plaintext.encode(), None)
    return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(ciphertext: str) -> str:
    raw = base64.urlsafe_b64decode(ciphertext.removeprefix("v1:"))
    return _aes().decrypt(raw[:12], raw[12:], None).decode()
