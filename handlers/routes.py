"""The bot's routing table: which handler answers which message type, event, menu click or text."""

from __future__ import annotations

from feedback.vocabulary import FEEDBACK_MENU_KEY
from handlers import diner, revisit
from handlers.router import Router, click, event, message


def build_router() -> Router:
    """The router used by the webhook (and by tests that drive handlers without HTTP)."""
    router = Router()
    router.add(event("subscribe_scan", "scan"), diner.scene)
    router.add(event("subscribe"), diner.welcome)
    router.add(click(FEEDBACK_MENU_KEY), diner.menu_feedback)
    router.add(
        event("unsubscribe", "view", "location", "templatesendjobfinish", "masssendjobfinish"), diner.no_reply
    )
    router.add(revisit.bare_answer, revisit.answer)  # 回访: a bare 1/2/3 with a return visit pending
    router.add(message("text"), diner.text)
    router.add(message("image"), diner.image)
    router.add(message("voice"), diner.voice)
    router.fallback = diner.unsupported
    return router
