"""Settings: defaults, config errors in one clear line, production demands real secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from core.settings import Settings, get_settings
from server.cli import app


def test_defaults_match_the_design() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.database_url == "sqlite:///./var/houqin.db" and s.timezone == "Asia/Shanghai"
    assert (s.fonds_code, s.fonds_name, s.compile_cron) == ("J001", "示例市机关事务管理局", "0 2 1 * *")
    assert s.max_body_bytes == 65536 and s.timestamp_window_s == 300 and s.simulator_enabled


@pytest.mark.parametrize("key", ["short", "!" * 43, "a" * 44])
def test_bad_aes_key_is_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="HOUQIN_WECHAT_AES_KEY"):
        Settings(_env_file=None, wechat_aes_key=key)  # type: ignore[call-arg]


def test_production_needs_real_secrets() -> None:
    with pytest.raises(ValidationError, match="HOUQIN_WECHAT_TOKEN"):
        Settings(_env_file=None, env="production")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="AES"):
        Settings(_env_file=None, env="production", wechat_token="t")  # type: ignore[call-arg]
    ok = Settings(  # type: ignore[call-arg]
        _env_file=None,
        env="production",
        wechat_token="t",
        pseudonym_secret="p",
        link_secret="l",
        wechat_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    )
    assert not ok.simulator_enabled


def test_cli_reports_config_errors_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOUQIN_WECHAT_AES_KEY", "too-short")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "HOUQIN_WECHAT_AES_KEY must be 43 characters" in result.output
    assert "Traceback" not in result.output


def test_cli_reports_an_unreachable_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "HOUQIN_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    )
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2 and "cannot reach the database" in result.output


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("mysql://root:secret@db/houqin", "mysql is not supported"),
        ("not a url", "not a database URL"),
        ("postgresql+asyncpg://u@h/db", "'asyncpg' is not installed"),
    ],
)
def test_cli_refuses_an_unsupported_database_in_one_line(
    monkeypatch: pytest.MonkeyPatch, url: str, why: str
) -> None:
    monkeypatch.setenv("HOUQIN_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["jobs"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert (
        "HOUQIN_DATABASE_URL" in result.output and "不支持的数据库" in result.output and why in result.output
    )
    assert "Traceback" not in result.output and "secret" not in result.output
