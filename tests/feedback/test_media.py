"""Attachments are fetched from WeChat's media API (a fake one on loopback) into DATA_DIR by a job."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from core.db import unit_of_work
from feedback import service
from feedback.media import MAX_ATTEMPTS, fetch_pending
from feedback.models import FeedbackMedia
from ingest.store import Store
from tests.conftest import make_settings
from tests.support.fake_wechat import PNG_1PX, FakeWeChat
from tests.support.servers import serve


def _photo(engine, media_id: str) -> int:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as s:
        fb = service.create_feedback(
            Store(s), sender="o_m", local_day=date(2026, 11, 20), service_date=date(2026, 11, 20)
        )
        return service.attach_media(
            Store(s), feedback=fb, kind="image", media_id=media_id, url="http://mmbiz/x.jpg"
        )


def test_media_is_fetched_once_into_data_dir(engine, db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fake = FakeWeChat()
    with serve(fake.app()) as api:
        settings = make_settings(
            db_url, tmp_path / "var", wechat_appid="wxid", wechat_secret="sec", wechat_api_base=api
        )
        mid = _photo(engine, "MEDIA_42")
        first = fetch_pending(engine, settings=settings)
        again = fetch_pending(engine, settings=settings)
    assert (first.fetched, again.fetched) == (1, 0)
    assert [c["media_id"] for c in fake.named("media_get")] == ["MEDIA_42"]
    with Session(engine) as s:
        media = s.get(FeedbackMedia, mid)
    assert (
        media is not None
        and media.local_path
        and (settings.data_dir / media.local_path).read_bytes() == PNG_1PX
    )


def test_without_credentials_nothing_is_lost(engine, settings) -> None:  # type: ignore[no-untyped-def]
    _photo(engine, "MEDIA_1")
    assert fetch_pending(engine, settings=settings).fetched == 0
    with Session(engine) as s:
        assert s.execute(select(FeedbackMedia.local_path)).scalar_one() is None  # still pending for later


def test_simulator_photos_are_copied(engine, settings) -> None:  # type: ignore[no-untyped-def]
    folder = settings.data_dir / "media" / "simulator"
    folder.mkdir(parents=True)
    (folder / "0123456789abcdef.jpg").write_bytes(PNG_1PX)
    mid = _photo(engine, "sim-0123456789abcdef.jpg")
    assert fetch_pending(engine, settings=settings).fetched == 1
    with Session(engine) as s:
        media = s.get(FeedbackMedia, mid)
    assert media is not None and (settings.data_dir / str(media.local_path)).read_bytes() == PNG_1PX


# --- issue 11: media from WeChat only; failures back off and stop ---


def test_a_sim_media_id_cannot_read_files_outside_the_simulator_folder(engine, settings) -> None:  # type: ignore[no-untyped-def]
    secret = settings.data_dir / "secret.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("root:x:0:0")
    ids = [
        _photo(engine, "sim-../../etc/passwd"),
        _photo(engine, "sim-../secret.txt"),
        _photo(engine, "sim-" + str(secret)),
    ]
    counts = fetch_pending(engine, settings=settings)
    assert (counts.fetched, counts.failed) == (0, 3)
    with Session(engine) as s:
        rows = [s.get(FeedbackMedia, i) for i in ids]
    assert all(r is not None and r.local_path is None and "RefusedMedia" in r.fetch_error for r in rows)
    assert not list((settings.data_dir / "media").rglob("*.jpg"))


def test_a_failing_download_backs_off_and_stops(engine, db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fake = FakeWeChat()
    fake.fail_media = True
    t0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    with serve(fake.app()) as api:
        settings = make_settings(
            db_url, tmp_path / "var", wechat_appid="wxid", wechat_secret="sec", wechat_api_base=api
        )
        mid = _photo(engine, "MEDIA_GONE")
        now, tries = t0, 0
        for _ in range(200):  # every 30 s for 100 minutes, as the scheduler would
            tries += fetch_pending(engine, settings=settings, now=now).failed
            now += timedelta(seconds=30)
        assert tries == 7  # 1, 2, 4, 8, 16, 32 minutes apart: not 200 tries
        for _ in range(2 * 60 * 4):  # four more hours: one more try, then it stops for good
            tries += fetch_pending(engine, settings=settings, now=now).failed
            now += timedelta(seconds=30)
    assert tries == MAX_ATTEMPTS
    with Session(engine) as s:
        media = s.get(FeedbackMedia, mid)
    assert media is not None and media.fetch_attempts == MAX_ATTEMPTS and media.local_path is None
    assert "40007" in media.fetch_error
