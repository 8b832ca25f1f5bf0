"""The demo's plate photos: a drawn PNG per chosen canteen feedback, attached as the message path attaches
media (server/demo/fill.py chooses which)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import update

from core.settings import Settings
from feedback import service
from feedback.models import Channel, FeedbackMedia, Meal
from server.demo.data import PHOTO_SHARE

# photo palette: table tops, and food colours by meal
TABLE_COLOURS = ((181, 136, 99), (160, 120, 90), (205, 170, 125), (120, 130, 140))
FOOD_COLOURS = {
    Meal.breakfast: ((245, 235, 210), (250, 205, 60), (235, 225, 200), (210, 160, 90)),
    Meal.lunch: ((150, 60, 30), (60, 150, 60), (250, 250, 245), (220, 70, 40), (230, 180, 80)),
    Meal.dinner: ((150, 60, 30), (60, 150, 60), (250, 250, 245), (200, 120, 50)),
}


class Planned(Protocol):
    """What a photo needs of a planned feedback (server/demo/fill.py's plan)."""

    channel: Channel
    meal: Meal | None
    created_at: datetime


def attach_photos(
    store: service.FeedbackStore,
    rng: random.Random,
    settings: Settings,
    rows: Sequence[tuple[Planned, service.FeedbackRow]],
) -> dict[int, int]:
    """Draw a plate photo for ~8% of the canteen feedback and attach it; feedback id → media id."""
    candidates = [i for i, (plan, _row) in enumerate(rows) if plan.channel == Channel.canteen]
    chosen = sorted(rng.sample(candidates, min(len(candidates), round(len(rows) * PHOTO_SHARE))))
    folder = settings.data_dir / "media" / "demo"
    if chosen:
        folder.mkdir(parents=True, exist_ok=True)
    out: dict[int, int] = {}
    media_times = []
    for i in chosen:
        plan, row = rows[i]
        _draw_plate(rng, folder / f"{row.reference}.png", meal=plan.meal or Meal.lunch, label=row.reference)
        media = service.attach_media(
            store,
            feedback=row,
            kind="image",
            local_path=f"media/demo/{row.reference}.png",
            media_id=f"demo-{row.reference}",
        )
        out[row.id] = media
        media_times.append(
            {"id": media, "created_at": plan.created_at + timedelta(seconds=rng.randint(20, 120))}
        )
    if media_times:
        # attach_media stamps the wall clock; the demo photo was sent with its feedback
        store.session.execute(update(FeedbackMedia), media_times)
    return out


def _draw_plate(rng: random.Random, path: Path, *, meal: Meal, label: str) -> None:
    """A 320x240 PNG: a plate with food on a table, stamped with the reference number."""
    width, height = 320, 240
    img = Image.new("RGB", (width, height), rng.choice(TABLE_COLOURS))
    draw = ImageDraw.Draw(img)
    cx, cy = width // 2 + rng.randint(-20, 20), height // 2 + rng.randint(-10, 10)
    draw.ellipse(
        (cx - 110, cy - 85, cx + 110, cy + 85), fill=(235, 235, 235), outline=(190, 190, 190), width=4
    )
    draw.ellipse((cx - 85, cy - 62, cx + 85, cy + 62), fill=(250, 250, 250))
    for _ in range(rng.randint(2, 4)):
        fx, fy = cx + rng.randint(-45, 45), cy + rng.randint(-30, 30)
        rx, ry = rng.randint(18, 34), rng.randint(12, 24)
        draw.ellipse((fx - rx, fy - ry, fx + rx, fy + ry), fill=rng.choice(FOOD_COLOURS[meal]))
    x = width - 40 + rng.randint(-5, 5)
    draw.line((x, 20, x - 25, height - 20), fill=(90, 60, 30), width=4)
    draw.line((x + 12, 20, x - 10, height - 20), fill=(90, 60, 30), width=4)
    draw.text((6, height - 16), label, fill=(255, 255, 255), font=ImageFont.load_default())
    img.save(path, "PNG")
