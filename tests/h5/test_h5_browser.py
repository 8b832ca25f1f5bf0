"""The feedback page in a real browser (Playwright driving Debian's Chromium, WeChat's user agent, a 390×844
phone screen), against the app served on loopback and the fake WeChat API: the silent OAuth round trip,
filling the form with a photo, submitting twice, and answering the return visit in 「我的反馈」.
Screenshots go to test-artifacts/ for a person to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from core.clock import utcnow
from core.db import unit_of_work
from core.settings import Settings
from feedback.models import Feedback, FeedbackMedia, Status
from server.app import create_app
from tests.conftest import make_settings
from tests.console.test_browser import ARTIFACTS, browser  # noqa: F401 — the shared browser fixture
from tests.h5.test_h5 import WECHAT_UA, add_places, jpeg_with_gps
from tests.support.fake_wechat import FakeWeChat
from tests.support.servers import free_port, serve

pytestmark = pytest.mark.slow


def test_the_feedback_page_in_wechat(
    browser: Any,  # noqa: F811
    engine: Engine,
    settings: Settings,
    fake: tuple[FakeWeChat, str],
    tmp_path: Path,
    backend: str,
) -> None:
    api, api_url = fake
    add_places(engine)
    port = free_port()
    app_settings = make_settings(
        settings.database_url,
        tmp_path / "var",
        wechat_secret="secret",
        wechat_api_base=api_url,
        wechat_oauth_base=api_url,
        public_url=f"http://127.0.0.1:{port}",
    )
    photo = tmp_path / "dish.jpg"
    photo.write_bytes(jpeg_with_gps((800, 600)))
    ARTIFACTS.mkdir(exist_ok=True)
    shots: list[Path] = []

    def shot(page: Any, name: str) -> None:
        path = ARTIFACTS / f"h5-{backend}-{len(shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    with serve(create_app(app_settings, engine=engine), port=port) as url:
        context = browser.new_context(
            user_agent=WECHAT_UA, viewport={"width": 390, "height": 844}, locale="zh-CN"
        )
        page = context.new_page()
        page.goto(f"{url}/h5/feedback?scene=canteen:north:12")
        assert (
            page.url.split("#")[0] == f"{url}/h5/feedback?scene=canteen:north:12"
        )  # back from the silent OAuth
        assert [name for name, _ in api.calls if name.startswith("oauth")] == [
            "oauth_authorize",
            "oauth_token",
        ]
        assert page.locator(".place").inner_text() == "北区食堂 · 12号桌"
        shot(page, "form")
        assert (
            page.get_by_label("4星 满意").count() == 5
        )  # each star is a labelled radio input (overall + 4 aspects)
        page.locator("label[for=overall-4]").click()
        page.locator("label[for=aspect0-3]").click()
        page.locator("label[for=aspect1-5]").click()
        page.get_by_text("偏咸", exact=True).click()
        page.get_by_label("意见和建议（选填）").fill("红烧肉偏咸，米饭有点硬")
        page.set_input_files("#photos", str(photo))
        assert page.locator("#photo-note").inner_text() == "已选择1张照片"
        shot(page, "filled")
        page.get_by_role("button", name="提交评价").click()
        page.wait_for_url("**/h5/thanks**")
        reference = page.locator("#reference").inner_text()
        assert reference.startswith("FK")
        shot(page, "thanks")
        page.go_back()  # the back button, then the same form sent again
        page.wait_for_url("**/h5/feedback**")
        if not page.locator("#overall-4").is_checked():
            page.locator("label[for=overall-4]").click()
        page.get_by_role("button", name="提交评价").click()
        page.wait_for_url("**/h5/thanks**")
        assert page.locator("#reference").inner_text() == reference
        shot(page, "again")
        with Session(engine) as s:
            assert s.execute(select(func.count()).select_from(Feedback)).scalar_one() == 1
            assert s.execute(select(func.count()).select_from(FeedbackMedia)).scalar_one() == 1
            fb = s.execute(select(Feedback)).scalar_one()
            assert (fb.sender, fb.score) == ("o_oauth_diner", 4)
        with unit_of_work(engine) as s:
            fb = s.execute(select(Feedback)).scalar_one()
            fb.status = Status.closed
            fb.revisit_asked_at = utcnow()
        page.get_by_role("link", name="查看我的反馈").click()
        page.wait_for_url("**/h5/mine")
        assert reference in page.inner_text("main")
        shot(page, "mine")
        page.get_by_text("基本满意", exact=True).click()
        page.get_by_role("button", name="提交回访").click()
        page.wait_for_url("**/h5/mine?**")
        assert "感谢您的回访评价" in page.inner_text("main")
        assert "回访评价：基本满意" in page.inner_text("main")
        shot(page, "revisit-answered")
        context.close()
    with Session(engine) as s:
        assert s.execute(select(Feedback)).scalar_one().revisit_answer == 2
    assert all(p.stat().st_size > 0 for p in shots)


def test_a_form_without_a_photo_goes_plain_and_again_to_the_same_reference(
    browser: Any,  # noqa: F811
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
) -> None:
    add_places(engine)
    sent: list[str] = []
    with serve(create_app(settings, engine=engine)) as url:
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
        page = context.new_page()
        page.on(
            "request",
            lambda r: sent.append(r.headers.get("content-type", "")) if r.method == "POST" else None,
        )
        page.goto(f"{url}/h5/feedback?scene=canteen:north:7")
        page.locator("label[for=overall-2]").click()
        page.get_by_label("意见和建议（选填）").fill("汤太咸 & 太凉+")
        page.get_by_role("button", name="提交评价").click()
        page.wait_for_url("**/h5/thanks**")
        reference = page.locator("#reference").inner_text()
        page.go_back()
        page.wait_for_url("**/h5/feedback**")
        if not page.locator("#overall-2").is_checked():
            page.locator("label[for=overall-2]").click()
        page.get_by_role("button", name="提交评价").click()
        page.wait_for_url("**/h5/thanks**")
        assert page.locator("#reference").inner_text() == reference
        context.close()
    # urlencoded: the server's fast path (h5/fastpath.py) took both
    assert sent == ["application/x-www-form-urlencoded"] * 2
    with Session(engine) as s:
        fb = s.execute(select(Feedback)).scalar_one()
    assert (fb.score, fb.comment, fb.reference) == (2, "汤太咸 & 太凉+", reference)
