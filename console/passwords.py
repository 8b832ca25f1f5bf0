"""The console's password rule: long enough, not a well-known password, not the account's own name.

The list holds the passwords most tried against logins (the top of the public breach-corpus lists, and
the Chinese favourites among them) and this project's own demo password."""

from __future__ import annotations

MIN_LENGTH = 10
DEMO_PASSWORD = "houqin-demo"  # `houqin demo`'s accounts: development only, refused in production
COMMON = frozenset(
    {
        "1234567890", "12345678910", "123456789a", "1234567890a", "a123456789", "qwertyuiop",
        "1q2w3e4r5t", "1qaz2wsx3edc", "password12", "password123", "passw0rd12", "iloveyou12",
        "0123456789", "9876543210", "1111111111", "0000000000", "abcdefghij", "abc1234567",
        "woaini1314", "woaini520", "5201314520", "1314520520", "aaaaaaaaaa", "qwerty1234",
        "admin12345", "admin123456", "administrator", "houqin-demo", "houqin12345", "houqin123456",
        "changeme123", "welcome123", "letmein123", "zxcvbnm123", "asdfghjkl1", "p@ssw0rd12",
        "qazwsxedc123", "123qweasdzxc", "1qaz@wsx#edc",
    }
)  # fmt: skip


def problem(password: str, *, username: str = "") -> str | None:
    """Why a password is refused (Chinese, for the person), or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"密码至少 {MIN_LENGTH} 个字符"
    lowered = password.lower()
    if lowered in COMMON or len(set(lowered)) < 4:
        return "密码过于常见或过于简单，请换一个"
    if username and username.lower() in lowered:
        return "密码不能包含用户名"
    return None
