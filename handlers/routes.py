"""The bot's routing table: which handler answers which message type, event, menu click or text.

Order matters (first match wins): the 反馈 and 帮助 buttons come before the rule for any other menu click,
and `diner.text` is the last text route, so a route added before it may claim bare digits (1, 2, 3 …): the
回访 answer does when no window is open. Inside `diner.text` the open window's question (which canteen
「回复序号」, replace the score?) takes a bare digit before it is read as a score.
"""

from __future__ import annotations

from feedback.vocabulary import FEEDBACK_MENU_KEY
from handlers import diner, revisit, staff
from handlers.router import Incoming, Router, click, event, message

# the photo-menu events (拍照或者相册发图): the photos themselves follow as image messages
PHOTO_MENU_EVENTS = ("pic_sysphoto", "pic_photo_or_album", "pic_weixin")
# a person waiting for an answer after a menu scan (扫码推事件且弹出「消息接收中」)
PERSON_EVENTS = ("scancode_waitmsg",)


def _any_event(msg: Incoming) -> bool:
    return msg.msg_type == "event"


def build_router() -> Router:
    """The router used by the webhook (and by tests that drive handlers without HTTP)."""
    router = Router()
    router.add(event("subscribe_scan", "scan"), diner.scene)
    router.add(event("subscribe"), diner.welcome)
    router.add(click(FEEDBACK_MENU_KEY), diner.menu_feedback)
    router.add(click("HELP"), diner.help_reply)  # the 帮助 button of `houqin menu push` (h5/sheets.py)
    router.add(event("click", *PERSON_EVENTS), diner.help_reply)  # any other button, a menu scan: the menu
    router.add(event(*PHOTO_MENU_EVENTS), diner.no_reply)
    # 回访: a bare 1/2/3 with a return visit pending and no feedback window open (an open window's
    # place question 「回复序号」 goes to diner.text instead)
    router.add(revisit.bare_answer, revisit.answer)
    # 利用 申请号 1|2|3: a requester's 利用效果 (issue 14); before diner.text, which would keep it as a comment
    router.add(staff.effect_command, staff.effect)
    router.add(message("text"), diner.text)
    router.add(message("image"), diner.image)
    router.add(message("voice"), diner.voice)
    # every other event is not a person talking (unsubscribe, VIEW, LOCATION, view_miniprogram,
    # subscribe_msg_popup_event, TEMPLATESENDJOBFINISH, WeCom enter_agent, change_contact, batch_job_result,
    # …): answered `success`, still logged once as every inbound message is
    router.add(_any_event, diner.no_reply)
    router.fallback = diner.unsupported
    return router
