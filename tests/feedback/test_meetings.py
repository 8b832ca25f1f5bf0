"""Meetings (会务): registration, the temporary parametric QR from (fake) WeChat, the poster, and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from typer.testing import CliRunner

from core.db import make_engine
from core.settings import Settings
from feedback.meetings import TEMP_QR_MAX_SECONDS, add_meeting, issue_qr, qr_lifetime, render_poster
from feedback.models import Meeting
from server.cli import app as cli
from tests.conftest import TEST_APPID, make_settings
from tests.support.fake_wechat import FakeWeChat
from tests.support.servers import serve

NOW = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
THIRTY_DAYS = 30 * 24 * 3600


def meeting(
    session: Session,
    code: str = "hy2026a",
    *,
    starts: date = date(2026, 11, 24),
    ends: date = date(2026, 11, 25),
) -> Meeting:
    m = add_meeting(
        session,
        code=code,
        title="年度工作会议",
        starts_on=starts,
        ends_on=ends,
        venue="三楼会议室",
        organiser="办公室",
    )
    session.commit()
    return m


def meetings(session: Session) -> list[Meeting]:
    session.expire_all()
    return list(session.execute(select(Meeting).order_by(Meeting.id)).scalars())


# --- add_meeting ----------------------------------------------------------------------------------


def test_add_meeting_stores_an_upper_case_code(session: Session) -> None:
    m = meeting(session, " hy2026a ")
    assert m.code == "HY2026A"
    [row] = meetings(session)
    assert (row.code, row.title, row.starts_on, row.ends_on, row.venue, row.organiser) == (
        "HY2026A",
        "年度工作会议",
        date(2026, 11, 24),
        date(2026, 11, 25),
        "三楼会议室",
        "办公室",
    )
    assert row.qr_ticket is None and row.qr_url is None and row.qr_expires_at is None


@pytest.mark.parametrize("code", ["HY-2026_a", "A" * 40, "x"])
def test_add_meeting_accepts_letters_digits_dash_underscore(session: Session, code: str) -> None:
    assert meeting(session, code).code == code.upper()


@pytest.mark.parametrize(
    "code", ["HY 2026", "年度会议", "HY2026会", "", "   ", "A" * 41, "hyé", "HY/1", "HY:1"]
)
def test_add_meeting_rejects_bad_codes(session: Session, code: str) -> None:
    with pytest.raises(ValueError, match="meeting code"):
        meeting(session, code)
    session.rollback()
    assert meetings(session) == []


def test_add_meeting_rejects_end_before_start(session: Session) -> None:
    with pytest.raises(ValueError, match="end before it starts"):
        meeting(session, "HY1", starts=date(2026, 11, 25), ends=date(2026, 11, 24))
    session.rollback()
    assert meetings(session) == []
    assert meeting(session, "HY2", starts=date(2026, 11, 25), ends=date(2026, 11, 25)).code == "HY2"


def test_meeting_codes_are_unique_regardless_of_case(session: Session) -> None:
    meeting(session, "HY1")
    with pytest.raises(IntegrityError):
        meeting(session, "hy1")
    session.rollback()
    assert [m.code for m in meetings(session)] == ["HY1"]


# --- QR lifetime ----------------------------------------------------------------------------------


def test_qr_lifetime_lasts_until_the_end_of_the_day_after_the_meeting(
    session: Session, settings: Settings
) -> None:
    m = meeting(session, ends=date(2026, 11, 25))
    # 2026-11-26 23:59 in Shanghai is 15:59 UTC
    expected = datetime(2026, 11, 26, 15, 59, tzinfo=UTC) - NOW
    assert qr_lifetime(m, now=NOW, settings=settings) == int(expected.total_seconds())


def test_qr_lifetime_is_capped_at_thirty_days(session: Session, settings: Settings) -> None:
    m = meeting(session, starts=date(2026, 12, 1), ends=date(2027, 3, 1))
    assert qr_lifetime(m, now=NOW, settings=settings) == TEMP_QR_MAX_SECONDS == THIRTY_DAYS


def test_qr_lifetime_of_a_past_meeting_is_short_but_positive(session: Session, settings: Settings) -> None:
    m = meeting(session, starts=date(2026, 1, 1), ends=date(2026, 1, 2))
    assert qr_lifetime(m, now=NOW, settings=settings) == 60


# --- issue_qr against the fake WeChat API ---------------------------------------------------------


@pytest.fixture
def fake() -> FakeWeChat:
    return FakeWeChat()


@pytest.fixture
def wechat_base(fake: FakeWeChat) -> Iterator[str]:
    with serve(fake.app()) as base:
        yield base


def _oa_settings(db_url: str, tmp_path: Path, base: str) -> Settings:
    return make_settings(db_url, tmp_path / "var", wechat_secret="test-secret", wechat_api_base=base)


def test_issue_qr_asks_wechat_for_a_temporary_string_scene(
    session: Session, db_url: str, tmp_path: Path, fake: FakeWeChat, wechat_base: str
) -> None:
    settings = _oa_settings(db_url, tmp_path, wechat_base)
    m = meeting(session)
    url = issue_qr(session, meeting=m, settings=settings, now=NOW)
    session.commit()
    assert url == "http://weixin.qq.com/q/fake1"

    [token] = fake.named("stable_token")  # issue 11: the stable token, normal mode
    assert token["appid"] == TEST_APPID and token["secret"] == "test-secret"
    assert token["grant_type"] == "client_credential"
    [body] = fake.named("qrcode")
    assert body["action_name"] == "QR_STR_SCENE"
    assert body["action_info"] == {"scene": {"scene_str": "meeting:HY2026A"}}
    lifetime = qr_lifetime(m, now=NOW, settings=settings)
    assert body["expire_seconds"] == lifetime
    assert 0 < body["expire_seconds"] <= THIRTY_DAYS

    [row] = meetings(session)
    assert row.qr_ticket == "TICKET1"
    assert row.qr_url == "http://weixin.qq.com/q/fake1"
    assert row.qr_expires_at == NOW + timedelta(seconds=lifetime)


def test_issue_qr_for_a_long_meeting_asks_for_thirty_days(
    session: Session, db_url: str, tmp_path: Path, fake: FakeWeChat, wechat_base: str
) -> None:
    settings = _oa_settings(db_url, tmp_path, wechat_base)
    m = meeting(session, "LONG1", starts=date(2026, 11, 24), ends=date(2027, 6, 30))
    issue_qr(session, meeting=m, settings=settings, now=NOW)
    session.commit()
    [body] = fake.named("qrcode")
    assert body["expire_seconds"] == THIRTY_DAYS
    assert body["action_info"]["scene"]["scene_str"] == "meeting:LONG1"
    [row] = meetings(session)
    assert row.qr_expires_at == NOW + timedelta(days=30)


def test_issue_qr_without_credentials_points_at_the_simulator(
    session: Session, db_url: str, tmp_path: Path, fake: FakeWeChat, wechat_base: str
) -> None:
    settings = make_settings(db_url, tmp_path / "var", wechat_secret="", wechat_api_base=wechat_base)
    m = meeting(session)
    assert issue_qr(session, meeting=m, settings=settings, now=NOW) == "/simulator?scene=meeting:HY2026A"
    session.commit()
    assert fake.calls == []
    [row] = meetings(session)
    assert row.qr_ticket is None and row.qr_url is None and row.qr_expires_at is None


# --- poster ---------------------------------------------------------------------------------------


def _is_png(path: Path) -> Image.Image:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        img.load()
        assert img.format == "PNG"
        return img.copy()


def test_render_poster_writes_an_a_series_png(session: Session, settings: Settings, tmp_path: Path) -> None:
    m = meeting(session)
    out = render_poster(
        meeting=m,
        qr_content="http://weixin.qq.com/q/fake1",
        settings=settings,
        path=str(tmp_path / "out" / "poster.png"),
    )
    assert out == tmp_path / "out" / "poster.png"
    img = _is_png(out)
    assert img.size == (1240, 1754)
    # two codes side by side, each with dark modules on white; plain white in the margins
    gray = img.convert("L")
    for box in ((90, 360, 590, 880), (650, 360, 1150, 880)):
        low, high = gray.crop(box).getextrema()
        assert low < 64 and high > 192
    assert gray.crop((0, 360, 60, 1100)).getextrema() == (255, 255)
    assert gray.crop((1180, 360, 1240, 1100)).getextrema() == (255, 255)


def test_the_poster_offers_the_form_qr_beside_the_chat_qr(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")  # a decoder independent of the qrcode package that drew them
    m = meeting(session)
    out = render_poster(
        meeting=m, qr_content="http://weixin.qq.com/q/fake1", settings=settings, path=str(tmp_path / "p.png")
    )
    img = _is_png(out)
    found = sorted(
        ((r.position.top_left.x, r.text) for r in zxingcpp.read_barcodes(img)), key=lambda pair: pair[0]
    )
    form = settings.public_url.rstrip("/") + "/h5/feedback?scene=meeting:HY2026A"
    assert [text for _, text in found] == [
        "http://weixin.qq.com/q/fake1",
        form,
    ]  # chat on the left, form right
    # each half decodes alone too: two separate codes, not one read twice
    assert [r.text for r in zxingcpp.read_barcodes(img.crop((0, 300, 620, 1000)))] == [
        "http://weixin.qq.com/q/fake1"
    ]
    assert [r.text for r in zxingcpp.read_barcodes(img.crop((620, 300, 1240, 1000)))] == [form]


def test_render_poster_defaults_to_the_data_dir(session: Session, settings: Settings) -> None:
    m = meeting(session)
    out = render_poster(meeting=m, qr_content="/simulator?scene=meeting:HY2026A", settings=settings)
    assert out == settings.data_dir / "posters" / "meeting-HY2026A.png"
    assert _is_png(out).size == (1240, 1754)


# --- CLI ------------------------------------------------------------------------------------------


def _rows(db_url: str) -> list[Meeting]:
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            return list(s.execute(select(Meeting)).scalars())
    finally:
        engine.dispose()


def test_cli_meeting_add(cli_env: dict[str, str], db_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "meeting",
            "add",
            "hy2026a",
            "--title",
            "年度工作会议",
            "--starts",
            "2026-11-24",
            "--ends",
            "2026-11-25",
            "--venue",
            "三楼会议室",
            "--organiser",
            "办公室",
        ],
        env=cli_env,
    )
    assert result.exit_code == 0, result.output
    poster = tmp_path / "data" / "posters" / "meeting-HY2026A.png"
    assert "meeting HY2026A added" in result.output
    assert "meeting:HY2026A" in result.output and str(poster) in result.output
    assert _is_png(poster).size == (1240, 1754)
    [row] = _rows(db_url)
    assert (row.code, row.title, row.starts_on, row.ends_on, row.venue, row.organiser) == (
        "HY2026A",
        "年度工作会议",
        date(2026, 11, 24),
        date(2026, 11, 25),
        "三楼会议室",
        "办公室",
    )
    assert row.qr_ticket is None  # no credentials: the QR points at the simulator


def test_cli_meeting_add_with_wechat_and_poster_path(
    cli_env: dict[str, str], db_url: str, tmp_path: Path, fake: FakeWeChat, wechat_base: str
) -> None:
    env = {
        **cli_env,
        "HOUQIN_WECHAT_APPID": TEST_APPID,
        "HOUQIN_WECHAT_SECRET": "cli-secret",
        "HOUQIN_WECHAT_API_BASE": wechat_base,
    }
    poster = tmp_path / "p" / "hy.png"
    result = CliRunner().invoke(
        cli,
        ["meeting", "add", "HY9", "--title", "座谈会", "--starts", "2026-11-24", "--poster", str(poster)],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert _is_png(poster).size == (1240, 1754)
    [body] = fake.named("qrcode")
    assert body["action_name"] == "QR_STR_SCENE"
    assert body["action_info"]["scene"]["scene_str"] == "meeting:HY9"
    assert 0 < body["expire_seconds"] <= THIRTY_DAYS
    [row] = _rows(db_url)
    assert (row.code, row.starts_on, row.ends_on) == ("HY9", date(2026, 11, 24), date(2026, 11, 24))
    assert row.qr_ticket == "TICKET1" and row.qr_url == "http://weixin.qq.com/q/fake1"
    assert row.qr_expires_at is not None


def test_cli_meeting_add_bad_date(cli_env: dict[str, str], db_url: str) -> None:
    result = CliRunner().invoke(
        cli, ["meeting", "add", "HY1", "--title", "t", "--starts", "2026-13-01"], env=cli_env
    )
    assert result.exit_code == 2
    assert "error:" in result.output
    assert _rows(db_url) == []


def test_cli_meeting_add_bad_code_stores_nothing(cli_env: dict[str, str], db_url: str) -> None:
    result = CliRunner().invoke(
        cli, ["meeting", "add", "年度会", "--title", "t", "--starts", "2026-11-24"], env=cli_env
    )
    assert result.exit_code != 0
    assert _rows(db_url) == []


def test_cli_meeting_add_bad_code_is_one_clear_line(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        cli, ["meeting", "add", "年度会", "--title", "t", "--starts", "2026-11-24"], env=cli_env
    )
    assert result.exit_code == 2
    assert "meeting code" in result.output
