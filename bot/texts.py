"""What the edge itself says, in Simplified Chinese: the outage reply and the simulator's refusals."""

from __future__ import annotations

# The passive reply to a spooled message (the database is down): it must not promise a reference
# number, which does not exist yet.
SPOOLED_REPLY = "您的消息已收到。系统正在维护，稍后会自动登记，无需重复发送。"

# The simulator's photo upload.
PHOTO_BAD = "照片格式不正确"
PHOTO_TOO_LARGE = "照片太大（上限 2 MB）"
PHOTO_MISSING = "请选择照片"
