"""Baseline apps for the webhook benchmark, each served by uvicorn with one worker.

- `bare`: a FastAPI endpoint that returns `success` and nothing else.
- `wechatpy_nodb`: wechatpy's verify → decrypt → parse → reply → encrypt, storing nothing.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto

bare = FastAPI()


@bare.post("/wechat")
async def bare_endpoint() -> Response:
    return PlainTextResponse("success")


wechatpy_nodb = FastAPI()
_crypto = WeChatCrypto(
    os.environ.get("HOUQIN_WECHAT_TOKEN", ""),
    os.environ.get("HOUQIN_WECHAT_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
    os.environ.get("HOUQIN_WECHAT_APPID", ""),
)


@wechatpy_nodb.post("/wechat")
async def wechatpy_endpoint(request: Request) -> Response:
    q = request.query_params
    body = await request.body()
    xml = _crypto.decrypt_message(body, q["msg_signature"], q["timestamp"], q["nonce"])
    msg = parse_message(xml)
    reply = create_reply("感谢您的评价！编号：FK20261125-0001", msg).render()
    return Response(_crypto.encrypt_message(reply, q["nonce"], q["timestamp"]), media_type="application/xml")
