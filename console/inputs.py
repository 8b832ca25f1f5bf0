"""Validating console and API input into clear Chinese 4xx answers, never a 500: database ids within
the columns' range, ASCII digits only (`²` is a digit to `str.isdigit`, not to us), real dates and a
capped date range (the dashboard's page and API alike), no lone surrogates in text.

`install(app)` adds the last line of defence: an input that still reaches the database out of range
(OverflowError, a DataError such as PostgreSQL's numeric_value_out_of_range) or a text that cannot be
encoded (a lone surrogate) is answered 400, not 500."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, Field
from sqlalchemy.exc import DataError

log = logging.getLogger("houqin.console.inputs")

MAX_ID = 2_147_483_647  # INTEGER primary keys (int32 on PostgreSQL)
MAX_RANGE_DAYS = 1098  # dashboard pages and API: at most three years at a time (two years are asked for)

BAD_NUMBER = "参数「{name}」应为 1 至 {hi} 之间的数字"
BAD_DATE = "日期「{value}」无效，请使用 年-月-日 格式（如 2026-11-20）"
BAD_RANGE = f"日期范围无效（开始不能晚于结束，至多 {MAX_RANGE_DAYS} 天）"
BAD_TEXT = "文字中含有无法识别的字符，请检查后重试"
BAD_INPUT = "输入的数值超出范围或含有无法识别的字符，请检查后重试"


class InputError(ValueError):
    """An input the console refuses; the message is for the person."""


def ascii_int(value: str | None, *, name: str, lo: int = 1, hi: int = MAX_ID) -> int | None:
    """A query or form value as an int in [lo, hi]; None when blank; InputError otherwise."""
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or not lo <= int(value) <= hi:
        raise InputError(BAD_NUMBER.format(name=name, hi=hi))
    return int(value)


def ascii_ids(values: list[Any]) -> list[int]:
    """Ticked ids from a form: ASCII digits within the id range; anything else is refused."""
    return [i for v in values if (i := ascii_int(str(v), name="ids")) is not None]


def day(value: str | None) -> date | None:
    """A date in ISO form (YYYY-MM-DD, ASCII digits); None when blank; InputError otherwise."""
    if not value:
        return None
    try:
        if not value.isascii():
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(BAD_DATE.format(value=value[:20])) from None


def date_range(
    start: date | None, end: date | None, *, today: date, default_days: int = 30
) -> tuple[date, date]:
    """A dashboard range: defaults to the last `default_days` days; refused when reversed or too wide."""
    end = end or today
    start = start or end - timedelta(days=default_days - 1)
    if start > end or (end - start).days >= MAX_RANGE_DAYS:
        raise InputError(BAD_RANGE)
    return start, end


def _no_surrogates(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(BAD_TEXT) from None
    return value


def text_ok(value: str) -> str:
    """The text, or InputError when it holds a lone surrogate (it could never be stored)."""
    try:
        return _no_surrogates(value)
    except ValueError as exc:
        raise InputError(str(exc)) from None


DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a database id")]
Text = Annotated[str, AfterValidator(_no_surrogates)]


def as_http(exc: InputError) -> HTTPException:
    """An InputError as the 400 the API answers."""
    return HTTPException(400, str(exc))


def install(app: FastAPI) -> None:
    """Answer what slipped past validation with 400 and a Chinese message, not 500 (an InputError itself is
    answered by console/errors.py: an HTML page for the console, JSON for the API)."""

    async def _refused(request: Request, exc: Exception) -> Response:
        log.warning("input refused on %s: %s", request.url.path, type(exc).__name__)
        return JSONResponse({"detail": BAD_INPUT}, status_code=400)

    for kind in (OverflowError, DataError, UnicodeEncodeError):
        app.add_exception_handler(kind, _refused)
