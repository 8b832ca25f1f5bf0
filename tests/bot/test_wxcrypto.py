"""bot/wxcrypto.py: WeChat's AES scheme, checked against WeRoBot's independent implementation."""

from __future__ import annotations

import base64

import pytest
from werobot.crypto import PrpCrypto as WeRoBotPrp

from bot.wxcrypto import Cipher, DecryptError, SignatureError, check_timestamp, signature, verify
from tests.conftest import TEST_AES_KEY, TEST_APPID

KEY = base64.b64decode(TEST_AES_KEY + "=")


@pytest.fixture
def cipher() -> Cipher:
    return Cipher(aes_key=TEST_AES_KEY, app_id=TEST_APPID)


@pytest.mark.parametrize("text", ["", "a", "感谢您的评价！编号：FK20261125-0001", "x" * 31, "字" * 700])
def test_werobot_decrypts_ours_and_we_decrypt_werobots(cipher: Cipher, text: str) -> None:
    peer = WeRoBotPrp(KEY)
    ours = cipher.encrypt(text)
    assert peer.decrypt(ours, TEST_APPID).decode() == text
    assert cipher.decrypt(peer.encrypt(text, TEST_APPID).decode()) == text


def test_each_encryption_has_its_own_random_prefix(cipher: Cipher) -> None:
    assert cipher.encrypt("同一条回复") != cipher.encrypt("同一条回复")


def test_a_message_for_another_app_is_refused(cipher: Cipher) -> None:
    other = WeRoBotPrp(KEY).encrypt("<xml/>", "wx_someone_else").decode()
    with pytest.raises(DecryptError, match="another app"):
        cipher.decrypt(other)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:-4],  # not whole blocks
        lambda c: "@" * 7,  # not base64
        lambda c: "",  # empty
        lambda c: base64.b64encode(base64.b64decode(c)[:-16]).decode(),  # last block gone: padding breaks
        lambda c: base64.b64encode(bytes(32)).decode(),  # decrypts to noise
    ],
)
def test_mangled_ciphertext_is_a_decrypt_error(cipher: Cipher, mangle: object) -> None:
    good = cipher.encrypt("<xml><Content>4分</Content></xml>")
    with pytest.raises(DecryptError):
        cipher.decrypt(mangle(good))  # type: ignore[operator]


def test_signature_is_sha1_of_sorted_parts_and_verify_is_strict() -> None:
    sig = signature("token", "1700000000", "nonce")
    assert sig == signature("nonce", "token", "1700000000")
    verify(sig.upper(), "token", "1700000000", "nonce")  # WeChat's hex case does not matter
    with pytest.raises(SignatureError):
        verify(sig[:-1] + "0" if sig[-1] != "0" else sig[:-1] + "1", "token", "1700000000", "nonce")
    with pytest.raises(SignatureError):
        verify(None, "token")


def test_timestamp_window() -> None:
    check_timestamp("1000", window_s=300, now=1200)
    with pytest.raises(SignatureError):
        check_timestamp("1000", window_s=300, now=1301)
    with pytest.raises(SignatureError):
        check_timestamp("soon", window_s=300, now=1000)
