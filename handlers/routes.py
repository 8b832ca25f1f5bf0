"""The bot's routing table: which handler answers which message type, event, menu click or text."""

from __future__ import annotations

from feedback.vocabulary import FEEDBACK_MENU_KEY
from handlers import diner
from handlers.router import Router, click, event, message


def build_router() -> Router:
    """The router used by the webhook (and by tests that drive handlers without HTTP)."""
    router = Router()
    router.add(event("subscribe_scan", "scan"), diner.scene)
    router.add(event("subscribe"), diner.welcome)
    router.add(click(FEEDBACK_MENU_KEY), diner.menu_feedback)
    router.add(click("HELP"), diner.help_reply)  # the 帮助 button of `houqin menu push` (h5/sheets.py)
    router.add(
        event("unsubscribe", "view", "location", "templatesendjobfinish", "masssendjobfinish"), diner.no_reply
    )
    router.add(message("text"), diner.text)
    router.add(message("image"), diner.image)
    router.add(message("voice"), diner.voice)
    router.fallback = diner.unsupported
    return router
