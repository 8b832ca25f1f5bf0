"""`houqin site qr` (A4 sheets of per-table form QR codes) and `houqin menu push` (the Official Account
menu, against the fake WeChat API)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from core.db import make_engine, unit_of_work
from core.settings import get_settings
from feedback.models import Site
from h5.sheets import parse_tables
from server.cli import app
from tests.support.fake_wechat import FakeWeChat


def test_parse_tables() -> None:
    assert parse_tables("1-3,5,5") == ["1", "2", "3", "5"]
    with pytest.raises(ValueError):
        parse_tables("3-1")


def test_site_qr_prints_a4_sheets(cli_env: dict[str, str], tmp_path: Path) -> None:
    engine = make_engine(cli_env["HOUQIN_DATABASE_URL"])
    with unit_of_work(engine) as s:
        s.add(Site(code="north", name="北区食堂"))
    engine.dispose()
    runner = CliRunner()
    png = tmp_path / "north.png"
    result = runner.invoke(app, ["site", "qr", "north", "--tables", "1-6", "--out", str(png)], env=cli_env)
    assert result.exit_code == 0, result.output
    page = Image.open(png)
    assert page.size == (1240, 1754)  # A4 at 150 dpi
    pdf = tmp_path / "north.pdf"
    result = runner.invoke(app, ["site", "qr", "north", "--tables", "1-40", "--out", str(pdf)], env=cli_env)
    assert result.exit_code == 0 and "40 QR codes on 2 A4 page(s)" in result.output
    assert (
        pdf.read_bytes().startswith(b"%PDF")
        and pdf.read_bytes().count(b"/Type /Page\n") + pdf.read_bytes().count(b"/Type /Page ") >= 1
    )
    bad = runner.invoke(app, ["site", "qr", "nowhere", "--out", str(png)], env=cli_env)
    assert bad.exit_code == 2 and "no active site" in bad.output


def test_the_sheet_codes_decode_to_the_table_forms(cli_env: dict[str, str], tmp_path: Path) -> None:
    from core.settings import Settings
    from h5.routes import form_url
    from h5.sheets import qr_sheets

    settings = Settings(_env_file=None, public_url="https://hq.example.gov.cn")  # type: ignore[call-arg]
    pages = qr_sheets(settings=settings, site_code="north", site_name="北区食堂", tables=["7"])
    assert (
        form_url(settings, "canteen:north:7") == "https://hq.example.gov.cn/h5/feedback?scene=canteen:north:7"
    )
    assert pages[0].getbbox() is not None  # something was drawn


def test_menu_push_creates_the_menu(cli_env: dict[str, str], fake: tuple[FakeWeChat, str]) -> None:
    api, url = fake
    env = {
        **cli_env,
        "HOUQIN_WECHAT_APPID": "wx_app",
        "HOUQIN_WECHAT_SECRET": "s",
        "HOUQIN_WECHAT_API_BASE": url,
        "HOUQIN_PUBLIC_URL": "https://hq.example.gov.cn",
    }
    result = CliRunner().invoke(app, ["menu", "push"], env=env)
    assert result.exit_code == 0, result.output
    (body,) = api.named("menu_create")
    assert [b["name"] for b in body["button"]] == ["评价", "我的反馈", "帮助"]
    assert body["button"][0]["url"] == "https://hq.example.gov.cn/h5/feedback"
    assert body["button"][2] == {"type": "click", "name": "帮助", "key": "HELP"}
    get_settings.cache_clear()  # the next run reads its own environment
    unset = CliRunner().invoke(app, ["menu", "push"], env=cli_env)
    assert unset.exit_code == 2
