"""Fetching diners' photos and voice notes into DATA_DIR: WeChat keeps temporary media about three days,
so a job downloads every attachment that has a media_id and no local file yet."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from core.settings import Settings
from core.wechat_api import NotConfigured, official_account, wecom
from feedback.models import Feedback, FeedbackMedia

log = logging.getLogger("houqin.media")
SUFFIX = {"image": ".jpg", "voice": ".amr"}
MAX_BYTES = 10 * 1024 * 1024


@dataclass
class MediaCounts:
    """What one fetch pass did."""

    fetched: int = 0
    failed: int = 0


def fetch_pending(engine: Engine, *, settings: Settings, limit: int = 50) -> MediaCounts:
    """Download attachments not yet in DATA_DIR (simulator photos are copied from its own folder)."""
    counts = MediaCounts()
    with Session(engine) as session:
        rows = session.execute(
            select(FeedbackMedia, col(Feedback.source))
            .join(Feedback, col(Feedback.id) == col(FeedbackMedia.feedback_id))
            .where(col(FeedbackMedia.local_path).is_(None), col(FeedbackMedia.media_id) != "")
            .order_by(col(FeedbackMedia.id))
            .limit(limit)
        ).all()
    for media, source in rows:
        relative = f"media/{media.feedback_id}/{media.id}{SUFFIX.get(media.kind, '.bin')}"
        target = settings.data_dir / relative
        try:
            data = _download(settings, media, source)
        except NotConfigured:
            return counts  # no credentials (development): nothing can be fetched now
        except Exception as exc:  # noqa: BLE001 — the next pass tries again; WeChat keeps media ~3 days
            log.warning("media %s not fetched: %s", media.id, type(exc).__name__)
            counts.failed += 1
            continue
        if data is None:
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


def _download(settings: Settings, media: FeedbackMedia, source: str) -> bytes | None:
    if media.media_id.startswith("sim-") and not media.media_id.startswith("sim-voice-"):
        path = settings.data_dir / "media" / "simulator" / media.media_id.removeprefix("sim-")
        return path.read_bytes() if path.is_file() else None
    if media.media_id.startswith(("sim-voice-", "demo-")):
        return None  # played by the simulator or the demo: there is no file at WeChat
    client = wecom(settings) if source == "wecom" else official_account(settings)
    response = client.media.download(media.media_id)
    content = bytes(response.content)
    if response.headers.get("content-type", "").startswith(("application/json", "text/plain")):
        raise RuntimeError(content[:200].decode("utf-8", "replace"))  # WeChat's error comes back as JSON
    if len(content) > MAX_BYTES:
        raise RuntimeError("media too large")
    return content


def copy_into(settings: Settings, source: Path, relative: str) -> None:
    """Place an existing file at DATA_DIR/relative (demo and tools)."""
    target = settings.data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
