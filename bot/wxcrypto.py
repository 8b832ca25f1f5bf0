"""WeChat's signatures and AES message encryption (wechatpy's cipher), with constant-time comparison.

wechatpy compares signatures with `==`; here every check uses `hmac.compare_digest`, and the timestamp
must fall inside a window so a captured query string cannot be replayed for long.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from wechatpy.crypto import PrpCrypto
from wechatpy.enterprise.crypto import PrpCrypto as WeComPrpCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidAppIdException


class SignatureError(Exception):
    """The request is not from WeChat: bad or missing signature, or a timestamp outside the window."""


class DecryptError(Exception):
    """The signed ciphertext does not decrypt to a message for this app."""


def signature(*parts: str) -> str:
    """WeChat's SHA-1 signature over the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def verify(expected: str | None, *parts: str) -> None:
    """Raise SignatureError unless `expected` is the signature of `parts` (compared in constant time)."""
    if not expected or not hmac.compare_digest(signature(*parts).encode(), expected.strip().lower().encode()):
        raise SignatureError("bad signature")


def check_timestamp(timestamp: str | None, *, window_s: int, now: float | None = None) -> None:
    """Raise SignatureError when the timestamp is missing, malformed or outside ±window_s."""
    try:
        ts = int(timestamp or "")
    except ValueError:
        raise SignatureError("bad timestamp") from None
    if abs((now if now is not None else time.time()) - ts) > window_s:
        raise SignatureError("timestamp outside the window")


class Cipher:
    """AES-256-CBC as WeChat uses it (random 16 bytes, length, message, app id; PKCS#7 to 32)."""

    def __init__(self, *, aes_key: str, app_id: str, wecom: bool = False) -> None:
        key = base64.b64decode(aes_key + "=")
        self._crypto = WeComPrpCrypto(key) if wecom else PrpCrypto(key)
        self.app_id = app_id

    def decrypt(self, ciphertext: str) -> str:
        """Decrypt one `Encrypt` value; raise DecryptError on padding, length or app-id mismatch."""
        try:
            return str(self._crypto.decrypt(ciphertext, self.app_id))
        except (InvalidAppIdException, InvalidCorpIdException):
            raise DecryptError("message is for another app") from None
        except Exception as exc:  # malformed base64, bad padding, truncated plaintext
            raise DecryptError(f"cannot decrypt: {type(exc).__name__}") from None

    def encrypt(self, plaintext: str) -> str:
        """Encrypt a reply for this app."""
        return self._crypto.encrypt(plaintext, self.app_id).decode("ascii")
