"""The conversation a diner trusts (issue 12), driven through /wechat (signed, AES-encrypted, as WeChat sends it)
and /wecom: replies by situation naming what was recorded, the place asked once and remembered, chatter never
appended, a second score asked about, menus, and events that are not a person talking answered `success`."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from core.models import Outbox
from feedback.meetings import add_meeting
from feedback.models import Feedback, InboundMessage, Person, Site
from handlers import texts
from handlers.staff import normalize_code
from server.app import create_app
from tests.conftest import TEST_AES_KEY, make_settings
from tests.support.wechat_peer import WeChatPeer, cdata, event_xml, text_xml, voice_xml

# 2026-11-26 04:30 UTC is 12:30 in Asia/Shanghai: lunch on the 26th
NOW = datetime(2026, 11, 26, 4, 30, tzinfo=UTC)
CORP = "wx_corp_houqin"
DUTY = "0571-87000000"
_senders = itertools.count(1)


class Talk:
    """One person talking to the bot over HTTP, as WeChat (or WeCom) delivers it."""

    def __init__(self, client: TestClient, path: str, peer: WeChatPeer, sender: str) -> None:
        self.client, self.path, self.peer, self.sender = client, path, peer, sender

    def post(self, xml: str) -> Any:
        params, body = self.peer.safe(xml)
        if self.path == "/wecom":
            body = body.replace(
                b"<ToUserName><![CDATA[gh_houqin]]></ToUserName>",
                f"<ToUserName>{cdata(CORP)}</ToUserName>".encode(),
            )
        r = self.client.post(self.path, params=params, content=body)
        assert r.status_code == 200, r.text
        return r

    def reply(self, xml: str) -> str:
        r = self.post(xml)
        if r.text in ("success", ""):
            return ""
        content = self.peer.open_reply(r.content).get("Content", "")
        assert len(content.encode()) <= 2048
        return content

    def say(self, content: str) -> str:
        return self.reply(text_xml(content, sender=self.sender))

    def event(self, name: str, key: str | None = None) -> str:
        return self.reply(event_xml(name, key=key, sender=self.sender))


@pytest.fixture
def clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def app_settings(db_url: str, tmp_path: Path) -> Any:
    return make_settings(
        db_url,
        tmp_path / "var",
        duty_phone=DUTY,
        wecom_corpid=CORP,
        wecom_token="wecom-token",
        wecom_aes_key=TEST_AES_KEY,
    )


@pytest.fixture
def client(app_settings: Any, engine: Any, clock: None) -> Iterator[TestClient]:
    with Session(engine) as s:
        s.add(Site(code="yst", name="机关一食堂"))
        s.add(Site(code="est", name="机关二食堂"))
        s.add(Site(code="old", name="旧食堂", active=False))
        add_meeting(
            s, code="HY2026A", title="年度工作会议", starts_on=date(2026, 11, 26), ends_on=date(2026, 11, 27)
        )
        s.commit()
    with TestClient(create_app(app_settings, engine=engine)) as c:
        yield c


def _talk(client: TestClient, app: str) -> Talk:
    sender = f"o_diner_{next(_senders)}"
    if app == "wecom":
        return Talk(
            client, "/wecom", WeChatPeer(token="wecom-token", aes_key=TEST_AES_KEY, app_id=CORP), sender
        )
    return Talk(client, "/wechat", WeChatPeer(), sender)


@pytest.fixture(params=["mp", "wecom"])
def talk(request: pytest.FixtureRequest, client: TestClient) -> Talk:
    return _talk(client, request.param)


@pytest.fixture
def diner(client: TestClient) -> Talk:
    return _talk(client, "mp")


def feedbacks(engine: Any, sender: str) -> list[Feedback]:
    with Session(engine) as s:
        q = select(Feedback).where(Feedback.sender == sender).order_by(Feedback.id)
        return list(s.execute(q).scalars())


def inbound(engine: Any, sender: str) -> int:
    with Session(engine) as s:
        q = select(func.count()).select_from(InboundMessage).where(InboundMessage.sender == sender)
        return int(s.execute(q).scalar_one())


# --- replies by situation --------------------------------------------------------------------------


def test_a_complaint_apologises_and_says_who_follows_up(talk: Talk, engine: Any) -> None:
    talk.event("SCAN", "canteen:yst:3")
    reply = talk.say("2分 菜是凉的")
    [fb] = feedbacks(engine, talk.sender)
    assert reply == texts.COMPLAINT.format(
        what="机关一食堂·午餐（11月26日）2分", ref=fb.reference, owner=texts.OWNER_CANTEEN, minutes=10
    )
    assert "很抱歉" in reply and "食堂负责人会跟进" in reply


def test_food_safety_gives_the_duty_phone_and_doctor_advice(talk: Talk, engine: Any) -> None:
    talk.event("SCAN", "canteen:yst:3")
    reply = talk.say("午餐 1分 吃出一根头发，还拉肚子了")
    [fb] = feedbacks(engine, talk.sender)
    assert "已记录：机关一食堂·午餐（11月26日）1分" in reply and fb.reference in reply
    assert "非常抱歉" in reply and f"值班电话：{DUTY}" in reply
    assert "就医" in reply and "保留剩余饭菜" in reply
    assert "感谢您的评价" not in reply


def test_food_safety_without_symptoms_gives_no_doctor_advice(diner: Talk) -> None:
    diner.event("SCAN", "canteen:yst")
    reply = diner.say("3分 菜里有虫")
    assert f"值班电话：{DUTY}" in reply and "就医" not in reply


def test_a_word_of_food_gone_wrong_alerts_the_duty_manager_and_clocks_it_as_food_safety(
    diner: Talk, engine: Any
) -> None:
    """One vocabulary: the word that gives the food-safety reply also alerts and sets its deadlines."""
    with Session(engine) as s:
        s.add(Person(openid="o_duty_manager", name="值班经理", roles="on_duty"))
        s.commit()
    diner.event("SCAN", "canteen:yst")
    reply = diner.say("3分 吃出一条虫")
    [fb] = feedbacks(engine, diner.sender)
    assert texts.FOOD_SAFETY_ALERTED in reply
    with Session(engine) as s:
        alerts = s.execute(select(Outbox).where(Outbox.to_user == "o_duty_manager")).scalars().all()
    assert len(alerts) == 1 and "吃出一条虫" in alerts[0].payload
    assert fb.rectify_due_at is not None  # a food-safety case must be rectified, whatever the score
    diner.say("4分 肚子疼")  # a symptom alone alerts too
    with Session(engine) as s:
        n = s.execute(select(func.count()).select_from(Outbox).where(Outbox.to_user == "o_duty_manager"))
        assert n.scalar_one() == 2


def test_a_dish_that_contains_a_food_safety_word_is_no_alarm(diner: Talk, engine: Any) -> None:
    diner.event("SCAN", "canteen:yst")
    reply = diner.say("5分 虫草花炖鸡很香")
    [fb] = feedbacks(engine, diner.sender)
    assert reply == texts.GOOD.format(what="机关一食堂·午餐（11月26日）5分", ref=fb.reference)
    assert fb.rectify_due_at is None


def test_a_good_score_thanks_briefly(talk: Talk, engine: Any) -> None:
    talk.event("SCAN", "canteen:est:8")
    reply = talk.say("5")
    [fb] = feedbacks(engine, talk.sender)
    assert reply == texts.GOOD.format(what="机关二食堂·午餐（11月26日）5分", ref=fb.reference)


# --- where it was ---------------------------------------------------------------------------------


def test_without_a_qr_the_place_is_asked_once_and_remembered(diner: Talk, engine: Any) -> None:
    reply = diner.say("4分 红烧肉偏咸")
    assert "已记录：午餐（11月26日）4分" in reply
    assert "回复序号" in reply and "1. 机关二食堂" in reply and "2. 机关一食堂" in reply
    assert "旧食堂" not in reply  # only active canteens
    answered = diner.say("2")
    [fb] = feedbacks(engine, diner.sender)
    assert (fb.site_id, fb.score) != (None, None) and fb.score == 4  # the 2 chose the canteen, not a score
    assert answered == texts.PLACE_SET.format(
        name="机关一食堂", what="机关一食堂·午餐（11月26日）4分", ref=fb.reference
    )
    # asked once: a later comment in the window is not asked again
    assert "回复序号" not in diner.say("米饭偏硬")
    # the next day: remembered, not asked
    with time_machine.travel(datetime(2026, 11, 27, 4, 0, tzinfo=UTC), tick=True):
        later = diner.say("5分 很好")
    assert "已记录：机关一食堂·午餐（11月27日）5分" in later and "回复序号" not in later


def test_the_feedback_menu_asks_the_place_first(diner: Talk, engine: Any) -> None:
    asked = diner.event("CLICK", "FEEDBACK")
    assert asked.startswith("请问是在哪个食堂？回复序号")
    assert diner.say("1") == texts.PLACE_SET_ASK_SCORE.format(name="机关二食堂", meal="午餐")
    diner.say("4")
    [fb] = feedbacks(engine, diner.sender)
    assert fb.score == 4 and fb.site_id is not None


def test_a_meeting_window_never_asks_the_place(talk: Talk, engine: Any) -> None:
    talk.say("会议 HY2026A")
    reply = talk.say("4分 会场有点冷")
    assert "回复序号" not in reply and "已记录：「年度工作会议」会务服务4分" in reply


# --- the window keeps only feedback -------------------------------------------------------------------


def test_chatter_in_the_window_is_answered_not_appended(talk: Talk, engine: Any) -> None:
    talk.event("SCAN", "canteen:yst:1")
    talk.say("3分 汤有点凉")
    replies = [talk.say(t) for t in ("谢谢", "5分钟后到", "4.5", "👍", "好的", "[微笑]")]
    assert replies == [
        texts.CHATTER_THANKS,
        texts.CHATTER_TIME,
        texts.CHATTER_DECIMAL,
        texts.CHATTER_EMOJI,
        texts.CHATTER_ACK,
        texts.CHATTER_EMOJI,
    ]
    [fb] = feedbacks(engine, talk.sender)
    assert (fb.score, fb.comment) == (3, "汤有点凉")
    assert inbound(engine, talk.sender) == 8  # nothing lost: every message is in the inbound log


def test_a_meal_word_changes_the_meal(diner: Talk, engine: Any) -> None:
    diner.event("SCAN", "canteen:yst:1")
    diner.say("4")
    diner.reply(voice_xml("晚饭的汤有点凉", sender=diner.sender))
    [fb] = feedbacks(engine, diner.sender)
    assert (fb.meal, fb.score, fb.comment) == ("dinner", 4, "晚饭的汤有点凉")


def test_a_second_score_asks_whether_to_replace(talk: Talk, engine: Any) -> None:
    talk.event("SCAN", "canteen:yst:1")
    talk.say("4 红烧肉好吃")
    asked = talk.say("2")
    assert asked == texts.REPLACE_ASK.format(what="机关一食堂·午餐（11月26日）", old=4, new=2)
    assert [f.score for f in feedbacks(engine, talk.sender)] == [4]
    replaced = talk.say("是")
    [fb] = feedbacks(engine, talk.sender)
    assert fb.score == 2 and "已记录：机关一食堂·午餐（11月26日）2分" in replaced and "很抱歉" in replaced
    talk.say("5")
    kept = talk.say("否")
    [fb] = feedbacks(engine, talk.sender)
    assert fb.score == 2 and kept.startswith("好的，保留2分")


def test_staff_words_from_a_diner_get_the_menu(diner: Talk, engine: Any) -> None:
    reply = diner.say("更多")
    assert reply == texts.HELP.format(fonds="示例市机关事务管理局", minutes=10)
    assert texts.STAFF_HELP not in reply
    diner.say("5")
    [fb] = feedbacks(engine, diner.sender)
    assert fb.comment == ""  # 更多 was never a feedback


def test_menus_are_separate_and_staff_see_both(client: TestClient) -> None:
    diner_menu = _talk(client, "mp").say("帮助")
    assert "绑定" in diner_menu and "查档" not in diner_menu.replace("绑定后查档", "")
    staff_menu = _talk(client, "wecom").say("帮助")  # a WeCom member is staff
    assert staff_menu.startswith(diner_menu) and texts.STAFF_HELP in staff_menu
    assert "更多" in staff_menu and "查阅 序号 目的" in staff_menu


# --- staff commands that fit a phone ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "J001-WS·2026-D10-CYF-0003/0057",
        "J001-WS.2026-D10-CYF-0003/0057",
        "J001-WS-2026-D10-CYF-0003/0057",
        "J001-WS・2026-D10-CYF-0003/0057",
        "Ｊ００１－ＷＳ．２０２６－Ｄ１０－ＣＹＦ－０００３／００５７",
        "j001-ws·2026-d10-cyf-3/57",
    ],
)
def test_an_archival_code_typed_on_a_phone_is_understood(typed: str) -> None:
    assert normalize_code(typed) == "J001-WS·2026-D10-CYF-0003/0057"


def test_a_hit_number_without_a_search_is_explained(client: TestClient) -> None:
    reply = _talk(client, "wecom").say("查阅 2 整改复核")
    assert "上次查档没有第2条结果" in reply


# --- events answered as WeChat expects ------------------------------------------------------------------

# Samples shaped as WeChat's and WeCom's documentation shows them (公众号「接收事件推送」, 企业微信「事件格式」),
# the fields wechatpy's and WeRoBot's test suites use.
MP_EVENTS = {
    "view_miniprogram": "<Event><![CDATA[view_miniprogram]]></Event><EventKey><![CDATA[pages/index/index]]></EventKey>"
    "<MenuId>MENUID</MenuId>",
    "subscribe_msg_popup_event": "<Event><![CDATA[subscribe_msg_popup_event]]></Event><SubscribeMsgPopupEvent><List>"
    "<TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>"
    "<SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString><PopupScene>2</PopupScene></List>"
    "</SubscribeMsgPopupEvent>",
    "unsubscribe": "<Event><![CDATA[unsubscribe]]></Event>",
    "LOCATION": "<Event><![CDATA[LOCATION]]></Event><Latitude>23.137466</Latitude><Longitude>113.352425</Longitude>"
    "<Precision>119.385040</Precision>",
    "VIEW": "<Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[http://www.example.com/]]></EventKey>",
    "TEMPLATESENDJOBFINISH": "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID>"
    "<Status><![CDATA[success]]></Status>",
    "MASSSENDJOBFINISH": "<Event><![CDATA[MASSSENDJOBFINISH]]></Event><MsgID>1988</MsgID>"
    "<Status><![CDATA[sendsuccess]]></Status><TotalCount>100</TotalCount>",
    "pic_sysphoto": "<Event><![CDATA[pic_sysphoto]]></Event><EventKey><![CDATA[6]]></EventKey><SendPicsInfo>"
    "<Count>1</Count><PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item>"
    "</PicList></SendPicsInfo>",
    "pic_photo_or_album": "<Event><![CDATA[pic_photo_or_album]]></Event><EventKey><![CDATA[6]]></EventKey>"
    "<SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]>"
    "</PicMd5Sum></item></PicList></SendPicsInfo>",
    "pic_weixin": "<Event><![CDATA[pic_weixin]]></Event><EventKey><![CDATA[6]]></EventKey><SendPicsInfo>"
    "<Count>1</Count><PicList><item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum></item>"
    "</PicList></SendPicsInfo>",
    "scancode_push": "<Event><![CDATA[scancode_push]]></Event><EventKey><![CDATA[6]]></EventKey><ScanCodeInfo>"
    "<ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>",
}
WECOM_EVENTS = {
    "enter_agent": "<Event><![CDATA[enter_agent]]></Event><EventKey><![CDATA[]]></EventKey><AgentID>1</AgentID>",
    "change_contact": "<Event><![CDATA[change_contact]]></Event><ChangeType>create_user</ChangeType>"
    "<UserID><![CDATA[zhangsan]]></UserID><Name><![CDATA[张三]]></Name><Department><![CDATA[1,2,3]]></Department>",
    "batch_job_result": "<Event><![CDATA[batch_job_result]]></Event><BatchJob><JobId><![CDATA[S0MrnndvRG5fadSlLwiBqiDDbM143UqTmKP3152FZk4]]>"
    "</JobId><JobType><![CDATA[sync_user]]></JobType><ErrCode>0</ErrCode><ErrMsg><![CDATA[ok]]></ErrMsg></BatchJob>",
    "LOCATION": "<Event><![CDATA[LOCATION]]></Event><Latitude>23.104</Latitude><Longitude>113.320</Longitude>"
    "<Precision>65.000</Precision><AgentID>1</AgentID>",
    "view": "<Event><![CDATA[view]]></Event><EventKey><![CDATA[www.qq.com]]></EventKey><AgentID>1</AgentID>",
    "pic_sysphoto": "<Event><![CDATA[pic_sysphoto]]></Event><EventKey><![CDATA[6]]></EventKey><SendPicsInfo>"
    "<Count>1</Count><PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item>"
    "</PicList></SendPicsInfo><AgentID>1</AgentID>",
}


def _event(body: str, *, sender: str, create: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName>{cdata(sender)}</FromUserName>"
        f"<CreateTime>{create}</CreateTime><MsgType><![CDATA[event]]></MsgType>{body}</xml>"
    )


@pytest.mark.parametrize(
    ("app", "name"), [("mp", n) for n in MP_EVENTS] + [("wecom", n) for n in WECOM_EVENTS]
)
def test_events_that_are_not_a_person_talking_get_success(
    client: TestClient, engine: Any, app: str, name: str
) -> None:
    talk = _talk(client, app)
    sender = "sys" if name in ("change_contact", "batch_job_result") else talk.sender
    body = (MP_EVENTS if app == "mp" else WECOM_EVENTS)[name]
    xml = _event(body, sender=sender, create=int(NOW.timestamp()) + 7)
    for _ in range(2):  # a retry: answered the same, logged once
        r = talk.post(xml)
        assert r.text in ("success", ""), r.text
    assert inbound(engine, sender) == 1
    assert feedbacks(engine, sender) == []


def test_following_gets_a_welcome_then_the_scenes_prompt(client: TestClient) -> None:
    plain = _talk(client, "mp").event("subscribe")
    assert plain == texts.WELCOME.format(fonds="示例市机关事务管理局", minutes=10)
    meeting = _talk(client, "mp").event("subscribe", "qrscene_meeting:HY2026A")
    assert meeting.startswith("感谢关注！") and "年度工作会议" in meeting and "打分" in meeting
    canteen = _talk(client, "mp").event("subscribe", "qrscene_canteen:yst:5")
    assert canteen.startswith("感谢关注！") and "机关一食堂" in canteen


# --- property: chatter never appended, every real comment appended ---------------------------------------

CHATTER = ["谢谢", "谢谢！", "好的", "好的谢谢", "嗯", "嗯嗯", "收到", "ok", "OK", "👍", "🙏🙏", "[微笑]", "[强]",
           "5分钟后到", "马上到", "十分钟后到", "等一下", "4.5", "3.5分", "辛苦了", "知道了", "没事了"]  # fmt: skip
COMMENTS = ["红烧肉偏咸", "米饭有点硬", "汤是凉的", "等了20分钟才打到饭", "青菜很新鲜，好吃", "窗口太少排队久",
            "餐具不太干净", "希望多一些素菜", "鱼有点腥", "今天的饺子不错", "分量比上周少", "空调太冷"]  # fmt: skip


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(CHATTER), st.sampled_from(COMMENTS)), min_size=1, max_size=6))
def test_no_chatter_is_appended_and_every_comment_is(
    client: TestClient, engine: Any, messages: list[str]
) -> None:
    talk = _talk(client, "mp")
    talk.event("SCAN", "canteen:yst:2")
    talk.say("4")
    for m in messages:
        talk.say(m)
    [fb] = feedbacks(engine, talk.sender)
    lines = fb.comment.split("\n") if fb.comment else []
    assert lines == [m for m in messages if m in COMMENTS]
