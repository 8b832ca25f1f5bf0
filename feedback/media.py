"""Fetching diners' photos and voice notes into HOUQIN_DATA_DIR/media: WeChat keeps temporary media about
three days, so a job downloads every attachment that has a media_id and no local file yet.

Media come from WeChat only: a `sim-` id is the simulator's, honoured only while the simulator is on and
only in the exact form it generates (`sim-<16 hex>.jpg`), resolved and confined under its folder. A
failing download backs off (1, 2, 4 … minutes, at most an hour) and stops after `MAX_ATTEMPTS`; the
last error is kept on the row and shown on the feedback page."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from core.clock import utcnow
from core.settings import Settings
from core.wechat_api import NotConfigured, official_account, wecom
from feedback.models import Feedback, FeedbackMedia

log = logging.getLogger("houqin.media")
SUFFIX = {"image": ".jpg", "voice": ".amr"}
MAX_BYTES = 10 * 1024 * 1024
# the simulator's own photo names (bot/simulator.py `_save_photo`): nothing else is read from its folder
SIM_PHOTO = re.compile(r"sim-([0-9a-f]{16}\.jpg)")
MAX_ATTEMPTS = 8  # about 2 hours of tries in all; WeChat keeps temporary media about 3 days
BACKOFF_MAX = timedelta(hours=1)


class RefusedMedia(Exception):
    """A media id that is not WeChat's and not the simulator's own: never fetched."""


def backoff(attempts: int) -> timedelta:
    """How long to wait after `attempts` failed downloads (1, 2, 4 … minutes, at most an hour)."""
    return min(BACKOFF_MAX, timedelta(minutes=2 ** max(0, attempts - 1)))


@dataclass
class MediaCounts:
    """What one fetch pass did."""

    fetched: int = 0
    failed: int = 0


def fetch_pending(
    engine: Engine, *, settings: Settings, limit: int = 50, now: datetime | None = None
) -> MediaCounts:
    """Download attachments not yet in HOUQIN_DATA_DIR (simulator photos are read from its own folder)."""
    counts = MediaCounts()
    now = now or utcnow()
    with Session(engine) as session:
        rows = session.execute(
            select(FeedbackMedia, col(Feedback.source))
            .join(Feedback, col(Feedback.id) == col(FeedbackMedia.feedback_id))
            .where(
                col(FeedbackMedia.local_path).is_(None),
                col(FeedbackMedia.media_id) != "",
                col(FeedbackMedia.fetch_attempts) < MAX_ATTEMPTS,
                col(FeedbackMedia.next_fetch_at).is_(None) | (col(FeedbackMedia.next_fetch_at) <= now),
            )
            .order_by(col(FeedbackMedia.id))
            .limit(limit)
        ).all()
    for row in rows:
        media, source = row.FeedbackMedia, row.source
        relative = f"media/{media.feedback_id}/{media.id}{SUFFIX.get(media.kind, '.bin')}"
        target = settings.data_dir / relative
        try:
            data = _download(settings, media, source)
        except NotConfigured:
            return counts  # no credentials (development): nothing can be fetched now
        except Exception as exc:  # noqa: BLE001 — a later pass tries again, backing off; WeChat keeps media ~3 days
            log.warning("media %s not fetched: %s", media.id, type(exc).__name__)
            _failed(engine, media, f"{type(exc).__name__}: {exc}", now=now)
            counts.failed += 1
            continue
        if data is None:
            _failed(engine, media, "no file", now=now)
            counts.failed += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(target)
        with Session(engine) as session:
            session.execute(
                update(FeedbackMedia).where(col(FeedbackMedia.id) == media.id).values(local_path=relative)
            )
            session.commit()
        counts.fetched += 1
    return counts


def _failed(engine: Engine, media: FeedbackMedia, error: str, *, now: datetime) -> None:
    attempts = media.fetch_attempts + 1
    with Session(engine) as session:
        session.execute(
            update(FeedbackMedia)
            .where(col(FeedbackMedia.id) == media.id)
            .values(fetch_attempts=attempts, next_fetch_at=now + backoff(attempts), fetch_error=error[:300])
        )
        session.commit()


def simulator_file(settings: Settings, media_id: str) -> Path:
    """The simulator's photo for `media_id`, confined under its folder (RefusedMedia otherwise)."""
    match = SIM_PHOTO.fullmatch(media_id)
    if not settings.simulator_enabled or match is None:
        raise RefusedMedia("not a media id of the simulator, or the simulator is off")
    folder = (settings.data_dir / "media" / "simulator").resolve()
    path = (folder / match.group(1)).resolve()
    if not path.is_relative_to(folder):
        raise RefusedMedia("outside the simulator's folder")
    return path


def _download(settings: Settings, media: FeedbackMedia, source: str) -> bytes | None:
    if media.media_id.startswith(("sim-voice-", "demo-")):
        return None  # played by the simulator or the demo: there is no file at WeChat
    if media.media_id.startswith("sim-"):
        path = simulator_file(settings, media.media_id)
        return path.read_bytes() if path.is_file() else None
    client = wecom(settings) if source == "wecom" else official_account(settings)
    response = client.media.download(media.media_id)
    content = bytes(response.content)
    if response.headers.get("content-type", "").startswith(("application/json", "text/plain")):
        raise RuntimeError(content[:200].decode("utf-8", "replace"))  # WeChat's error comes back as JSON
    if len(content) > MAX_BYTES:
        raise RuntimeError("media too large")
    return content
