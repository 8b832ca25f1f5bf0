"""The console in a real browser (Playwright driving Debian's Chromium, headless, against the app served on
loopback): a canteen manager filters the inbox, replies, records a rectification and closes the
feedback, and sees the dashboard's charts drawn; a reception manager opens a meeting poster; an archivist
receives a volume and approves a lookup. Screenshots go to test-artifacts/ for a person to look at.

Never downloads a browser: it uses /usr/bin/chromium (`apt-get install chromium`) and skips without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from core.clock import utcnow
from core.db import unit_of_work
from core.models import Outbox
from core.settings import Settings
from exports.models import Volume
from feedback.models import Feedback, FeedbackEvent, InboundMessage, Meeting
from lookups.models import LookupRequest
from server.app import create_app
from server.demo.fill import fill_demo
from tests.support.console_helpers import (
    PASSWORD,
    add_users,
    last_week,
    local_today,
    pending_lookup,
    sealed_volume,
)
from tests.support.servers import serve

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# For each chart: how many data points it has, and how many of its canvas pixels are not background.
CHART_PROBE = """() => window.charts.map(c => {
  const series = c.getOption().series.map(s => s.data.filter(v => v !== null && v !== undefined && v !== 0).length);
  const canvas = c.getDom().querySelector('canvas');
  const ctx = canvas.getContext('2d');
  const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let drawn = 0;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i + 3] > 0 && (px[i] < 240 || px[i + 1] < 240 || px[i + 2] < 240)) drawn++;
  }
  return {series, drawn, width: canvas.width, height: canvas.height};
})"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the browser tests"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the `playwright` package is not installed (dev extras)"
    )
    with sync_api.sync_playwright() as p:
        # scripts/clock-sweep's libfaketime hangs Chromium: the browser keeps the real clock
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, env=env)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def world(engine: Engine, settings: Settings, demo_clock: None) -> dict[str, Any]:
    """Accounts, the demo month, a sealed volume, a pending lookup; and the feedback the manager will pick."""
    add_users(engine)
    with unit_of_work(engine) as s:
        fill_demo(s, settings=settings, count=400, seed=2026, today=local_today(settings))
    code = sealed_volume(engine, settings, period="2026-06")
    register_no = pending_lookup(engine, settings, code)
    monday, sunday = last_week(settings)
    with unit_of_work(engine) as s:
        target = s.execute(
            select(Feedback)
            .where(
                col(Feedback.channel) == "canteen",
                col(Feedback.meal) == "lunch",
                col(Feedback.service_date) >= monday,
                col(Feedback.service_date) <= sunday,
                # a new one (待处理, not yet handled): the demo has rectified some already
                col(Feedback.status) == "new",
            )
            .order_by(col(Feedback.score).is_(None), col(Feedback.score), col(Feedback.created_at).desc())
            .limit(1)
        ).scalar_one()
        s.add(
            InboundMessage(
                dedupe_key=f"browser:{target.sender}",
                sender=target.sender,
                msg_type="text",
                created_at=utcnow(),
                raw_xml="<xml/>",
            )
        )
        meeting = s.execute(select(Meeting).order_by(col(Meeting.id))).scalars().first()
        assert meeting is not None
        return {
            "code": code,
            "register_no": register_no,
            "monday": monday,
            "sunday": sunday,
            "target": target,
            "meeting": meeting.code,
        }


def test_console_in_a_browser(
    browser: Any, engine: Engine, settings: Settings, world: dict[str, Any], backend: str
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shots: list[Path] = []

    def shot(page: Any, name: str, *, full: bool = True) -> None:
        path = ARTIFACTS / f"{backend}-{len(shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=full)
        shots.append(path)

    target: Feedback = world["target"]
    with serve(create_app(settings, engine=engine)) as base:
        context = browser.new_context(
            locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        def sign_in(username: str) -> None:
            page.goto(f"{base}/console/login")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")

        def flash() -> str:
            return str(page.text_content(".flash") or "")

        # --- canteen manager: filter, reply, rectify, close ---------------------------------------------
        page.goto(f"{base}/console/login")
        shot(page, "login")
        sign_in("canteen")
        page.wait_for_url("**/console/feedback")
        page.click("#tabs a[data-tab=pending]")
        page.wait_for_url("**/console/feedback?tab=pending")
        page.fill("input[name=start]", str(world["monday"]))
        page.fill("input[name=end]", str(world["sunday"]))
        page.select_option("select[name=meal]", "lunch")
        page.select_option("select[name=sort]", "low")
        page.select_option("select[name=status]", "new")
        page.click("#filter")
        page.wait_for_url("**/console/feedback?*meal=lunch*")
        first = page.locator("table tr td a").first
        assert first.text_content() == target.reference
        shot(page, "inbox-filtered")
        first.click()
        page.wait_for_url(f"**/console/feedback/{target.id}")
        assert "可通过客服消息送达" in page.content()
        page.fill("textarea[name=text]", "感谢您的反馈，已要求厨师减少用盐。")
        page.click("text=发送回复")
        page.wait_for_selector(".flash")
        assert "已加入发送队列" in flash()
        page.fill("input[name=measure]", "午餐菜品减盐两成，出餐前试味")
        page.fill("input[name=owner]", "王厨师长")
        page.fill("input[name=deadline]", str(local_today(settings) + timedelta(days=3)))
        page.fill("input[name=progress]", "已落实")
        page.click("text=记录整改")
        page.wait_for_selector(".flash")
        assert "整改已记录" in flash()
        page.click("button:has-text('办结')")
        page.wait_for_selector(".flash")
        assert "已办结" in flash()
        body = page.content()
        assert "午餐菜品减盐两成" in body and "已办结" in body
        shot(page, "detail-closed")

        # --- the dashboard's charts are drawn with data -----------------------------------------------
        page.goto(f"{base}/console/dashboard")
        page.wait_for_function("window.charts && window.charts.length === 3")
        page.wait_for_timeout(1500)  # ECharts animates the first draw
        probes = page.evaluate(CHART_PROBE)
        for probe in probes:
            assert sum(probe["series"]) > 0, probes
            assert probe["drawn"] > 0.01 * probe["width"] * probe["height"], probes  # not a blank canvas
        assert page.text_content("#kpi-n") not in ("", "0")
        shot(page, "dashboard")

        # --- reception manager: the meeting poster -------------------------------------------------------
        context.clear_cookies()
        sign_in("reception")
        page.wait_for_url("**/console/feedback")
        page.goto(f"{base}/console/meetings")
        shot(page, "meetings")
        page.click(f"a[href='/console/meetings/{world['meeting']}/poster']")
        page.wait_for_function(
            "document.getElementById('poster').complete && document.getElementById('poster').naturalWidth > 0"
        )
        assert page.evaluate("document.getElementById('poster').naturalWidth") == 1240
        shot(page, "poster")

        # --- archivist: receive a volume, approve a lookup -------------------------------------------
        context.clear_cookies()
        sign_in("archivist")
        page.wait_for_url("**/console/volumes")
        code = world["code"]
        assert code in page.content() and "built-in method" not in page.content()
        shot(page, "volumes")
        page.set_viewport_size(
            {"width": 390, "height": 844}
        )  # an archivist's phone: the receive button stays
        assert page.is_visible(f"form[action='/console/volumes/{code}/receive'] button")
        shot(page, "volumes-phone")
        page.set_viewport_size({"width": 1280, "height": 900})
        page.click(f"form[action='/console/volumes/{code}/receive'] button")
        page.wait_for_selector(".flash")
        assert "已接收，检查人：王档案" in flash()
        assert "接收核验" in page.content() and "built-in method" not in page.content()
        shot(page, "volume-received")

        page.goto(f"{base}/console/lookups")
        no = world["register_no"]
        card = page.locator(f"#lookup-{no}")
        card.locator("input[name=reason]").fill("仅限在线查阅")
        shot(page, "lookups")
        card.locator("button[value=approve]").click()
        page.wait_for_selector(".flash")
        assert f"已同意查阅申请 {no}" in flash()
        page.goto(f"{base}/console/register?year={no[2:6]}")
        assert no in page.content() and "已同意" in page.content()
        shot(page, "register")
        context.close()
        assert errors == [], errors

    with Session(engine) as s:
        fb = s.get(Feedback, target.id)
        assert fb is not None and fb.status == "closed"
        actions = [
            e.action
            for e in s.execute(
                select(FeedbackEvent).where(col(FeedbackEvent.feedback_id) == target.id)
            ).scalars()
        ]
        assert actions[-3:] == ["replied", "rectification", "closed"]
        assert (
            s.execute(select(col(Volume.received_by)).where(col(Volume.archival_code) == code)).scalar_one()
            == "王档案"
        )
        req = s.execute(select(LookupRequest).where(col(LookupRequest.register_no) == no)).scalar_one()
        assert (req.decision, req.approver) == ("approved", "王档案")
        to = {o.to_user for o in s.execute(select(Outbox)).scalars()}
        assert {target.sender, "o_zhang"} <= to  # the diner's reply and the requester's notice are queued
    assert all(p.stat().st_size > 5000 for p in shots)


# --- issue 13: every console page on a desktop and on a phone ---------------------------------------------

VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
OVERFLOW = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def _box(page: Any, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return dict(box)


@pytest.mark.parametrize("screen", list(VIEWPORTS))
def test_every_console_page_fits_the_screen(
    browser: Any, engine: Engine, settings: Settings, world: dict[str, Any], backend: str, screen: str
) -> None:
    """No horizontal scrolling on any page; on a phone the inbox's status, meal and canteen show, the
    bulk bar is on screen, the archivist's 核验并接收 is reachable, the meetings table reads as cards."""
    ARTIFACTS.mkdir(exist_ok=True)
    viewport = VIEWPORTS[screen]
    target: Feedback = world["target"]
    with Session(engine) as s:
        closed = (
            s.execute(
                select(Feedback).where(col(Feedback.status) == "closed", col(Feedback.volume_id).is_(None))
            )
            .scalars()
            .first()
        )
        unreplied = (
            s.execute(
                select(Feedback).where(
                    col(Feedback.channel) == "canteen",
                    col(Feedback.status) == "new",
                    col(Feedback.id) != target.id,
                )
            )
            .scalars()
            .first()
        )
        assert closed is not None and unreplied is not None
    code, meeting = world["code"], world["meeting"]
    pages = {
        None: ["/console/login"],
        "canteen": [
            "/console/feedback",
            "/console/feedback?tab=pending",
            "/console/feedback?tab=alerts_unacked&sort=low",
            f"/console/feedback/{target.id}",
            f"/console/feedback/{closed.id}",
            "/console/dashboard",
            "/console/no-such-page",
            "/console/volumes",  # 403
        ],
        "reception": [
            "/console/feedback",
            "/console/meetings",
            "/console/meetings/new",
            f"/console/meetings/{meeting}/edit",
            f"/console/meetings/{meeting}/poster",
        ],
        "archivist": [
            "/console/volumes",
            f"/console/volumes/{code}",
            "/console/lookups",
            "/console/register",
        ],
    }
    with serve(create_app(settings, engine=engine)) as base:
        context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport=viewport)
        # no internet: only houqin itself answers (the /docs page must work so)
        context.route(
            "**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort()
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        shots = 0

        def look(path: str, name: str) -> None:
            nonlocal shots
            page.wait_for_load_state("networkidle")
            width, inner = page.evaluate(OVERFLOW)
            assert width <= inner, (path, screen, width, inner)
            shots += 1
            page.screenshot(
                path=str(ARTIFACTS / f"{backend}-{screen}-{shots:02d}-{name}.png"), full_page=True
            )

        for who, paths in pages.items():
            context.clear_cookies()
            if who:
                page.goto(f"{base}/console/login")
                page.fill("input[name=username]", who)
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_load_state()
            for path in paths:
                page.goto(base + path)
                look(path, f"{who or 'anon'}-{path.strip('/').replace('/', '_').replace('?', '_')[:40]}")
                if who == "canteen" and path == "/console/feedback" and screen == "phone":
                    for cell in ("status", "餐次", "食堂/会议"):
                        sel = "#inbox td.status" if cell == "status" else f"#inbox td[data-label='{cell}']"
                        box = _box(page, sel)
                        assert page.is_visible(sel) and box["x"] >= 0 and box["x"] + box["width"] <= 390, cell
                    # the list comes first: the filters are folded away until opened
                    assert not page.is_visible("#filter")
                    page.click("#filterbox summary")
                    assert page.is_visible("#filter")
                    bar = _box(page, "#bulkbar")  # sticky: on screen before any scrolling
                    assert bar["y"] + bar["height"] <= 844 and page.is_visible("#bulkbar button")
                if path == "/console/volumes" and who == "archivist":
                    button = f"form[action='/console/volumes/{code}/receive'] button"
                    box = _box(page, button)
                    assert page.is_visible(button) and box["x"] + box["width"] <= viewport["width"]
                if path == f"/console/volumes/{code}":
                    # the 四性检测 report: every stage opened, its checks still fit the screen
                    for summary in page.locator("#fourfold details:not([open]) summary").all():
                        summary.click()
                    assert page.locator("#fourfold table.fourfold tr td[data-label='编号']").count() >= 14
                    box = _box(page, "#fourfold table.fourfold")
                    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
                    look(path, f"{who}-volume-fourfold-open")
                if path == "/console/meetings":
                    box = _box(page, "#meetings td[data-label='会议名称']")
                    assert box["width"] >= 150, box  # not one character per line
            if who == "canteen":
                # 办结 without a reply asks first: the confirmation page fits too
                page.goto(f"{base}/console/feedback/{unreplied.id}")
                page.click("#actions button:has-text('办结')")
                page.wait_for_selector("#confirm")
                assert "还没有回复反馈人" in str(page.text_content("#confirm"))
                look("confirm", "canteen-confirm-close")
        context.clear_cookies()  # /docs is for admins (server/exposure.py)
        page.goto(f"{base}/console/login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        page.goto(f"{base}/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
        look("/docs", "docs")
        context.close()
    assert errors == [], errors
