"""The tap-to-rate page (h5/, TestClient, both databases): a submission stored exactly once with its
aspects and photos, resubmits and edits, photos stripped of EXIF, bad or oversized files refused with
nothing stored, rate limits and misuse, 「我的反馈」 seeing only one's own, the return visit, and the
silent OAuth round trip against the fake WeChat API."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from core.db import unit_of_work
from core.settings import Settings
from feedback.models import (
    Feedback,
    FeedbackAspect,
    FeedbackEvent,
    FeedbackForm,
    FeedbackMedia,
    Meeting,
    Site,
    Status,
)
from h5.identity import COOKIE
from server.app import create_app
from tests.conftest import make_settings
from tests.support.fake_wechat import FakeWeChat

LUNCH = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile "
    "Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F30) NetType/WIFI Language/zh_CN"
)
FIELD = re.compile(r'name="(key|csrf|scene)" value="([^"]*)"')


def add_places(engine: Engine) -> None:
    """A canteen and a meeting to rate."""
    with unit_of_work(engine) as s:
        s.add(Site(code="north", name="北区食堂"))
        s.add(Meeting(code="M2611", title="全市后勤工作会议", starts_on=LUNCH.date(), ends_on=LUNCH.date()))


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    add_places(engine)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def open_form(c: TestClient, scene: str = "canteen:north:12", **kw: Any) -> dict[str, str]:
    page = c.get(f"/h5/feedback?scene={scene}", **kw)
    assert page.status_code == 200, page.text
    return dict(FIELD.findall(page.text))


def filled(fields: dict[str, str], **values: Any) -> dict[str, Any]:
    """The form as a browser sends it: hidden fields, stars, two tags, a comment (None leaves one out)."""
    data: dict[str, Any] = {
        **fields,
        "overall": "4",
        "aspect0": "3",
        "aspect1": "5",
        "tag": ["偏咸", "排队久"],
        "comment": "红烧肉偏咸",
        **values,
    }
    return {name: value for name, value in data.items() if value is not None}


def send(
    c: TestClient, fields: dict[str, str], *, photos: list[tuple[str, bytes, str]] = (), **values: Any
) -> httpx.Response:  # type: ignore[assignment]
    files = [("photos", p) for p in photos] or None
    return c.post("/h5/feedback", data=filled(fields, **values), files=files, follow_redirects=False)


def reference_after(c: TestClient, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    page = c.get(response.headers["location"])
    assert page.status_code == 200
    found = re.search(r'id="reference">(FK\d{8}-\d{4})<', page.text)
    assert found, page.text
    return found.group(1)


def jpeg_with_gps(size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG carrying a camera make and a GPS position in its EXIF."""
    image = Image.new("RGB", size, (200, 80, 40))
    exif = Image.Exif()
    exif[0x010F] = "HUAWEI"  # Make
    exif[0x0110] = "Mate 60"  # Model
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (32.0, 3.0, 30.0)
    gps[3] = "E"
    gps[4] = (118.0, 47.0, 0.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def counts(engine: Engine) -> tuple[int, int, int, int]:
    with Session(engine) as s:
        return tuple(  # type: ignore[return-value]
            int(s.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (Feedback, FeedbackForm, FeedbackMedia, FeedbackAspect)
        )


def media_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "media"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@time_machine.travel(LUNCH, tick=False)
def test_a_form_is_stored_once_with_aspects_tags_and_photo(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    fields = open_form(client)
    first = send(client, fields, photos=[("dish.jpg", jpeg_with_gps(), "image/jpeg")])
    ref = reference_after(client, first)
    again = send(
        client, fields, photos=[("dish.jpg", jpeg_with_gps(), "image/jpeg")]
    )  # double tap / back button
    assert reference_after(client, again) == ref
    assert counts(engine) == (1, 1, 1, 2)  # nothing new stored by the resubmit
    with Session(engine) as s:
        fb = s.execute(select(Feedback)).scalar_one()
        assert (fb.reference, fb.score, fb.meal, fb.table_no, fb.source) == (ref, 4, "lunch", "12", "h5")
        assert fb.comment == "【偏咸】【排队久】\n红烧肉偏咸"
        assert fb.sender.startswith("h5:")
        aspects = dict(s.execute(select(FeedbackAspect.aspect, FeedbackAspect.score)).all())  # type: ignore[call-overload]
        assert aspects == {"口味": 3, "卫生": 5}


@time_machine.travel(LUNCH, tick=False)
def test_a_photo_with_gps_exif_is_stored_without_it(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the input really has a position
    reference_after(
        client, send(client, open_form(client), photos=[("IMG_0001.JPG", original, "image/jpeg")])
    )
    with Session(engine) as s:
        media = s.execute(select(FeedbackMedia)).scalar_one()
    assert media.kind == "image" and media.local_path
    stored = (settings.data_dir / media.local_path).read_bytes()
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG" and image.size == (64, 48)
    assert not image.getexif() and "exif" not in image.info
    assert b"HUAWEI" not in stored and b"Exif" not in stored


@time_machine.travel(LUNCH, tick=False)
def test_png_webp_and_heic_are_taken_as_jpeg(client: TestClient, engine: Engine, settings: Settings) -> None:
    import pillow_heif

    def encoded(fmt: str) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", (40, 30), (10, 120, 200)).save(out, format=fmt)
        return out.getvalue()

    pillow_heif.register_heif_opener()
    photos = [
        ("a.png", encoded("PNG"), "image/png"),
        ("b.webp", encoded("WEBP"), "image/webp"),
        ("c.heic", encoded("HEIF"), "image/heic"),
    ]
    reference_after(client, send(client, open_form(client), photos=photos))
    stored = media_files(settings)
    assert len(stored) == 3 and all(Image.open(p).format == "JPEG" for p in stored)


@pytest.mark.parametrize("case", ["renamed", "oversized_image", "eleven_mb", "four_photos"])
@time_machine.travel(LUNCH, tick=False)
def test_bad_or_oversized_files_are_refused_and_nothing_is_stored(
    client: TestClient, engine: Engine, settings: Settings, case: str
) -> None:
    good = ("ok.jpg", jpeg_with_gps(), "image/jpeg")
    if case == "renamed":
        photos = [good, ("photo.jpg", b"%PDF-1.7\n" + os.urandom(4000), "image/jpeg")]
        expected = "第2张文件不是照片"
    elif case == "oversized_image":  # a real PNG of noise: about 12 MB that does not compress
        out = io.BytesIO()
        Image.frombytes("RGB", (2000, 2000), os.urandom(2000 * 2000 * 3)).save(
            out, format="PNG", compress_level=0
        )
        assert out.tell() > 10 * 1024 * 1024
        photos = [("big.png", out.getvalue(), "image/png")]
        expected = "第1张照片超过10MB"
    elif case == "eleven_mb":
        photos = [("movie.jpg", b"\xff\xd8\xff\xe0" + os.urandom(11 * 1024 * 1024), "image/jpeg")]
        expected = "超过10MB"
    else:
        photos = [good, good, good, good]
        expected = "最多三张"
    response = send(client, open_form(client), photos=photos)
    assert response.status_code in (400, 413)
    assert expected in response.text and "未保存" in response.text
    assert counts(engine) == (0, 0, 0, 0)
    assert media_files(settings) == []


def test_a_body_over_the_cap_is_refused_while_streaming(client: TestClient, engine: Engine) -> None:
    fields = open_form(client)

    def chunks() -> Iterator[bytes]:
        yield b'--x\r\nContent-Disposition: form-data; name="key"\r\n\r\n' + fields["key"].encode() + b"\r\n"
        for _ in range(40):  # 40 MB, no Content-Length: the cap is counted while reading
            yield b"\0" * (1024 * 1024)

    response = client.post(
        "/h5/feedback", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert response.status_code == 413 and "上传内容太大" in response.text
    assert counts(engine) == (0, 0, 0, 0)


def test_sending_again_within_30_minutes_edits_then_a_new_one_is_added(
    client: TestClient, engine: Engine
) -> None:
    with time_machine.travel(LUNCH, tick=False):
        first = reference_after(client, send(client, open_form(client), comment="偏咸"))
    with time_machine.travel(LUNCH + timedelta(minutes=20), tick=False):
        response = send(client, open_form(client), overall="2", comment="还是太咸")  # a new form, a new key
        assert "已更新您刚才的评价" in client.get(response.headers["location"]).text
        assert reference_after(client, response) == first
    with Session(engine) as s:
        fb = s.execute(select(Feedback)).scalar_one()
        assert (fb.score, fb.comment.endswith("还是太咸")) == (2, True)
        assert (
            s.execute(
                select(func.count())
                .select_from(FeedbackEvent)
                .where(col(FeedbackEvent.detail) == "form_edit")
            ).scalar_one()
            == 1
        )
    with time_machine.travel(LUNCH + timedelta(minutes=45), tick=False):
        assert reference_after(client, send(client, open_form(client))) != first
    assert counts(engine)[:2] == (2, 3)


def test_identical_submissions_are_flagged_misuse_and_left_out_of_statistics(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    from feedback import stats

    for minutes in (0, 40, 80):
        with time_machine.travel(LUNCH + timedelta(minutes=minutes), tick=False):
            reference_after(client, send(client, open_form(client), comment="难吃"))
    with Session(engine) as s:
        flags = [f.misuse for f in s.execute(select(Feedback).order_by(col(Feedback.id))).scalars()]
        d = stats.dashboard(s, settings=settings, start=LUNCH.date(), end=LUNCH.date())
    assert flags == [False, True, True]
    assert d.overall.n == 1


def test_rate_limit_per_diner(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    add_places(engine)
    limited = make_settings(settings.database_url, tmp_path / "v2", h5_diner_per_hour=2, h5_edit_minutes=0)
    with TestClient(create_app(limited, engine=engine)) as c:
        with time_machine.travel(LUNCH, tick=False):
            for n in range(2):
                reference_after(c, send(c, open_form(c), comment=f"第{n}次"))
            refused = send(c, open_form(c), comment="第三次")
        assert refused.status_code == 429 and "太频繁" in refused.text
        with time_machine.travel(LUNCH + timedelta(minutes=61), tick=False):
            reference_after(c, send(c, open_form(c), comment="一小时后"))
        other = TestClient(c.app)  # another device is not limited by this one
        with time_machine.travel(LUNCH, tick=False):
            reference_after(other, send(other, open_form(other)))


@time_machine.travel(LUNCH, tick=False)
def test_mine_shows_only_ones_own_and_forged_tokens_see_nothing(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    ref = reference_after(client, send(client, open_form(client)))
    assert ref in client.get("/h5/mine").text
    stranger = TestClient(client.app)
    assert ref not in stranger.get("/h5/mine").text
    assert ref not in stranger.get(f"/h5/thanks?key={open_form(client)['key']}").text
    # the diner's own cookie with its signature changed, and one signed with another secret
    real = client.cookies.get(COOKIE)
    assert real
    body, _, sig = real.rpartition(".")
    from itsdangerous import URLSafeSerializer

    with Session(engine) as s:
        sender = s.execute(select(Feedback.sender)).scalar_one()  # type: ignore[call-overload]
    forged_other_secret = URLSafeSerializer("guessed", salt="houqin-h5-diner").dumps(
        {"k": "h5", "i": sender.removeprefix("h5:")}
    )
    for forged in (f"{body}.{sig[::-1]}", forged_other_secret):
        c = TestClient(client.app, cookies={COOKIE: forged})
        page = c.get("/h5/mine")
        assert page.status_code == 200 and ref not in page.text
        answered = c.post(f"/h5/mine/{ref}/revisit", data={"csrf": open_form(c)["csrf"], "answer": "3"})
        assert answered.status_code in (400, 404)  # refused: no identity, or not theirs
    with Session(engine) as s:
        assert s.execute(select(Feedback)).scalar_one().revisit_answer is None


@time_machine.travel(LUNCH, tick=False)
def test_a_return_visit_is_answered_in_mine(client: TestClient, engine: Engine) -> None:
    ref = reference_after(client, send(client, open_form(client)))
    with unit_of_work(engine) as s:
        fb = s.execute(select(Feedback)).scalar_one()
        fb.status = Status.closed
        fb.revisit_asked_at = LUNCH
        s.add(FeedbackEvent(feedback_id=fb.id, actor="张经理", action="replied", detail="已要求厨师少放盐"))  # type: ignore[arg-type]
    page = client.get("/h5/mine").text
    assert "已要求厨师少放盐" in page and "回访" in page and "已办结" in page
    assert 'href="/h5/mine"' not in page  # no link from 我的反馈 to itself; the form's page has one
    assert 'href="/h5/mine"' in client.get("/h5/feedback?scene=canteen:north:12").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    done = client.post(f"/h5/mine/{ref}/revisit", data={"csrf": csrf.group(1), "answer": "1"})
    assert "感谢您的回访评价" in done.text
    with Session(engine) as s:
        assert s.execute(select(Feedback)).scalar_one().revisit_answer == 1


def test_meeting_form_has_the_meeting_aspects(client: TestClient) -> None:
    page = client.get("/h5/feedback?scene=meeting:m2611").text
    for aspect in ("会场", "会务", "餐饮", "住宿"):
        assert f"<legend>{aspect}</legend>" in page
    assert "全市后勤工作会议" in page
    assert client.get("/h5/feedback?scene=canteen:nowhere").status_code == 404


def test_the_page_weighs_under_100_kb_and_is_served_by_houqin(client: TestClient) -> None:
    page = client.get("/h5/feedback?scene=canteen:north")
    assets = re.findall(r'(?:href|src)="(/[^"]+\.(?:css|js))"', page.text)
    assert sorted(assets) == ["/h5/static/h5.css", "/h5/static/h5.js"]
    assert "http" not in "".join(re.findall(r'(?:href|src)="([^"]+)"', page.text))  # nothing from elsewhere
    total = len(page.content) + sum(len(client.get(a).content) for a in assets)
    assert total < 100 * 1024
    assert 'type="radio"' in page.text and "<fieldset" in page.text and '<label for="overall-5">' in page.text


def _oauth_settings(settings: Settings, tmp_path: Path, url: str, **extra: Any) -> Settings:
    return make_settings(
        settings.database_url,
        tmp_path / "oauth",
        wechat_secret="secret",
        wechat_api_base=url,
        wecom_api_base=url,
        wechat_oauth_base=url,
        public_url="http://testserver",
        **extra,
    )


@time_machine.travel(LUNCH, tick=True)
def test_silent_oauth_in_wechat_gives_the_openid(
    settings: Settings, engine: Engine, tmp_path: Path, fake: tuple[FakeWeChat, str]
) -> None:
    api, url = fake
    add_places(engine)
    with TestClient(
        create_app(_oauth_settings(settings, tmp_path, url), engine=engine), headers={"user-agent": WECHAT_UA}
    ) as c:
        first = c.get("/h5/feedback?scene=canteen:north:3", follow_redirects=False)
        assert first.status_code == 302 and first.headers["location"].startswith(
            f"{url}/connect/oauth2/authorize?"
        )
        assert "scope=snsapi_base" in first.headers["location"]
        back = httpx.get(first.headers["location"], follow_redirects=False)  # WeChat's side
        assert back.headers["location"].startswith("http://testserver/h5/oauth?")
        landed = c.get(back.headers["location"].removeprefix("http://testserver"), follow_redirects=False)
        assert landed.headers["location"] == "/h5/feedback?scene=canteen:north:3"
        reference_after(c, send(c, open_form(c, "canteen:north:3")))
    assert api.named("oauth_token")[0]["code"].startswith("CODE-")
    with Session(engine) as s:
        fb = s.execute(select(Feedback)).scalar_one()
    assert (fb.sender, fb.source) == ("o_oauth_diner", "mp")  # joins the diner's chat history


@time_machine.travel(LUNCH, tick=True)
def test_wecom_oauth_gives_the_userid(
    settings: Settings, engine: Engine, tmp_path: Path, fake: tuple[FakeWeChat, str]
) -> None:
    api, url = fake
    add_places(engine)
    wecom = _oauth_settings(
        settings, tmp_path, url, wecom_corpid="ww_corp", wecom_secret="s", wecom_agentid="1000002"
    )
    with TestClient(
        create_app(wecom, engine=engine), headers={"user-agent": WECHAT_UA + " wxwork/4.1.20"}
    ) as c:
        first = c.get("/h5/mine", follow_redirects=False)
        assert "appid=ww_corp" in first.headers["location"] and "agentid=1000002" in first.headers["location"]
        back = httpx.get(first.headers["location"], follow_redirects=False)
        c.get(back.headers["location"].removeprefix("http://testserver"))
        reference_after(c, send(c, open_form(c, "meeting:M2611"), aspect2="4"))
    assert api.named("wecom_getuserinfo")
    with Session(engine) as s:
        fb = s.execute(select(Feedback)).scalar_one()
    assert (fb.sender, fb.source, fb.channel, fb.meal) == ("wecom_oauth_user", "wecom", "meeting", None)


@time_machine.travel(LUNCH, tick=False)
def test_the_console_shows_aspects_and_the_photo_and_the_dashboard_their_means(
    client: TestClient, engine: Engine
) -> None:
    from tests.support.console_helpers import add_users, login

    reference_after(
        client, send(client, open_form(client), photos=[("a.jpg", jpeg_with_gps(), "image/jpeg")])
    )
    other = TestClient(client.app)
    reference_after(other, send(other, open_form(other), aspect0="5"))
    add_users(engine)
    manager = TestClient(client.app)
    login(manager, "canteen")
    with Session(engine) as s:
        fb = s.execute(select(Feedback).order_by(col(Feedback.id))).scalars().first()
        media = s.execute(select(FeedbackMedia)).scalar_one()
    assert fb is not None
    page = manager.get(f"/console/feedback/{fb.id}").text
    assert "分项评分" in page and "口味 3分" in page and "卫生 5分" in page
    assert f'src="/console/media/{media.id}"' in page
    photo = manager.get(f"/console/media/{media.id}")
    assert photo.status_code == 200 and Image.open(io.BytesIO(photo.content)).format == "JPEG"
    board = manager.get(f"/console/dashboard?start={LUNCH.date()}&end={LUNCH.date()}").text
    assert "分项评价" in board and "口味 平均4.0分 · 满意率50.0%（n=2）" in board
