"""Canonical item records: one list of values per bound feedback, the same whether built from the
database or read back from a sealed workbook, so digests can be recomputed from either.

A record is an item's detail row (明细; 卷内文件 from version 2, `exports.lines`) without its digest column,
which follows it in the sheet; its canonical line is the JSON array of its values
as strings. The item digest is SHA-256 of that line; the content digests (SHA-256 and SM3) run over all
lines, each followed by a newline.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

MAX_CELL_CHARS = 32000  # Excel keeps 32,767; openpyxl cuts silently past that, we cut visibly first
FORMULA_PREFIXES = ("=", "+", "-", "@")
_NEWLINES = re.compile(r"\r\n?")
_ILLEGAL = ILLEGAL_CHARACTERS_RE.search


@dataclass
class Sanitised:
    """A text made safe for a cell, with what was done to it (for the 备考表)."""

    text: str
    notes: list[tuple[str, int]] = field(default_factory=list)  # (kind, number): control, truncated, formula


def sanitise(text: str) -> Sanitised:
    """Remove control characters, normalise newlines, cut over-long text; note a formula-like start."""
    if "\r" in text:
        text = _NEWLINES.sub("\n", text)
    out = Sanitised(text)
    if len(text) <= MAX_CELL_CHARS and not text.startswith(FORMULA_PREFIXES) and not _ILLEGAL(text):
        return out  # the common case: nothing to do
    removed = len(ILLEGAL_CHARACTERS_RE.findall(text))
    if removed:
        out.text = ILLEGAL_CHARACTERS_RE.sub("", out.text)
        out.notes.append(("control", removed))
    if len(out.text) > MAX_CELL_CHARS:
        out.notes.append(("truncated", len(out.text)))
        out.text = out.text[:MAX_CELL_CHARS]
    if out.text.startswith(FORMULA_PREFIXES):
        out.notes.append(("formula", ord(out.text[0])))
    return out


def canonical(value: Any) -> str:
    """A cell value as it takes part in digests: None and '' alike, numbers as their decimal text."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # json.dumps makes one per call


def line(record: Sequence[Any]) -> str:
    """The canonical line of a record."""
    return _LINE.encode([v if v.__class__ is str else canonical(v) for v in record])


def item_digest(record: Sequence[Any]) -> str:
    """SHA-256 of the record's canonical line (the 条目SHA-256 column)."""
    return hashlib.sha256(line(record).encode("utf-8")).hexdigest()


class ContentDigest:
    """SHA-256 and SM3 over the canonical lines of a volume's items, in order, fed one at a time."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._sm3 = hashlib.new("sm3")
        self.count = 0

    def add(self, record: Sequence[Any]) -> str:
        """Feed one record; return its item digest."""
        data = line(record).encode("utf-8")
        item = hashlib.sha256(data).hexdigest()
        data += b"\n"
        self._sha.update(data)
        self._sm3.update(data)
        self.count += 1
        return item

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    @property
    def sm3(self) -> str:
        return self._sm3.hexdigest()


def content_digests(records: Iterable[Sequence[Any]]) -> tuple[str, str, int]:
    """(SHA-256, SM3, count) of a sequence of records."""
    digest = ContentDigest()
    for record in records:
        digest.add(record)
    return digest.sha256, digest.sm3, digest.count


def file_digests(path: str) -> tuple[str, str]:
    """SHA-256 and SM3 of a file."""
    sha, sm3 = hashlib.sha256(), hashlib.new("sm3")
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
            sm3.update(chunk)
    return sha.hexdigest(), sm3.hexdigest()


def seal_of(record: dict[str, Any]) -> str:
    """The seal digest: SHA-256 of the seal record's canonical JSON (without its own `seal` field)."""
    body = {k: v for k, v in record.items() if k != "seal"}
    return hashlib.sha256(
        json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
