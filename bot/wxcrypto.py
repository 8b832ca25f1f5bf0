"""WeChat's signatures and AES message encryption (WeChat's scheme on `cryptography`), with constant-time comparison.

wechatpy compares signatures with `==`; here every check uses `hmac.compare_digest`, and the timestamp
must fall inside a window so a captured query string cannot be replayed for long.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time

from cryptography.hazmat.primitives import ciphers


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
    # ASCII digits only (str.isdigit also takes "²", which int() refuses) and short (int() takes 400
    # digits, whose float conversion below would overflow): either would be a 500. Unix seconds have 10
    # digits until the year 2286.
    if not timestamp or len(timestamp) > 12 or not (timestamp.isascii() and timestamp.isdigit()):
        raise SignatureError("bad timestamp")
    ts = int(timestamp)
    if abs((now if now is not None else time.time()) - ts) > window_s:
        raise SignatureError("timestamp outside the window")


class Cipher:
    """AES-256-CBC as WeChat uses it: 16 random bytes, the length (big-endian), the message, the app id
    (corp id for WeCom), PKCS#7-padded to 32 bytes; IV = the key's first 16 bytes.

    Written on `cryptography` directly rather than through wechatpy's PrpCrypto: this runs twice per
    message on the webhook's hot path, and wechatpy builds its random prefix one character at a time
    with `random.sample` and re-creates the cipher for each call (the difference: docs/benchmarks.md).
    Compatibility is tested against WeRoBot's independent implementation and WeChat's sample vectors.
    """

    def __init__(self, *, aes_key: str, app_id: str, wecom: bool = False) -> None:
        key = base64.b64decode(aes_key + "=")
        if len(key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes (43 characters)")
        self._aes = ciphers.Cipher(ciphers.algorithms.AES(key), ciphers.modes.CBC(key[:16]))
        self.app_id = app_id
        self._app_id = app_id.encode("utf-8")
        self.wecom = wecom  # the same scheme; the trailing id is the corp id

    def decrypt(self, ciphertext: str) -> str:
        """Decrypt one `Encrypt` value; raise DecryptError on padding, length or app-id mismatch."""
        try:
            raw = base64.b64decode(ciphertext, validate=False)
            if not raw or len(raw) % 16:
                raise ValueError("not whole AES blocks")
            dec = self._aes.decryptor()
            plain = dec.update(raw) + dec.finalize()
            pad = plain[-1]
            if not 1 <= pad <= _BLOCK or len(plain) < 20 + pad:
                raise ValueError("bad padding")
            body = plain[16:-pad]
            (length,) = _LENGTH.unpack_from(body)
            if length > len(body) - 4:
                raise ValueError("truncated")
            message = body[4 : 4 + length].decode("utf-8")
            from_id = body[4 + length :]
        except Exception as exc:  # malformed base64, bad padding, truncated plaintext, bad UTF-8
            raise DecryptError(f"cannot decrypt: {type(exc).__name__}") from None
        if not hmac.compare_digest(from_id, self._app_id):
            raise DecryptError("message is for another app")
        return message

    def encrypt(self, plaintext: str) -> str:
        """Encrypt a reply for this app."""
        text = plaintext.encode("utf-8")
        body = b"".join((os.urandom(16), _LENGTH.pack(len(text)), text, self._app_id))
        pad = _BLOCK - len(body) % _BLOCK
        enc = self._aes.encryptor()
        out = enc.update(body + bytes((pad,)) * pad) + enc.finalize()
        return base64.b64encode(out).decode("ascii")


_BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16
_LENGTH = struct.Struct(">I")
