"""The form's ASGI fast path (h5/fastpath.py) against FastAPI's route, over real HTTP (uvicorn on loopback,
both databases): the same submission gives the same answer byte for byte either way — success, every
refusal with its Chinese sentence, forged identities and form tokens, rate limits, edits — and a resubmit
lands on the same reference whichever path took the first copy. Also the fast path's own parts against
the libraries they stand in for: the urlencoded parser against starlette's, the cookie check against
itsdangerous."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Engine, func, select
from sqlmodel import Session
from starlette.datastructures import Headers
from starlette.formparsers import FormParser, MultiPartException

import h5.routes
from core.settings import Settings
from feedback.models import Feedback, FeedbackForm
from h5 import identity
from h5.fastpath import parse_urlencoded
from h5.submission import MAX_FIELDS, MAX_PART
from server.app import create_app
from tests.conftest import make_settings
from tests.h5.test_h5 import FIELD, LUNCH, add_places, filled
from tests.support.servers import serve

HEADERS = ("content-type", "cache-control", "content-length", "location")
REFERENCE = re.compile(r'id="reference">(FK\d{8}-\d{4})<')


def fastapi_of(app: Any) -> FastAPI:
    """The FastAPI app inside the ASGI wrappers (the route alone, no fast path)."""
    while not isinstance(app, FastAPI):
        app = app.app
    return app


@pytest.fixture
def servers(settings: Settings, engine: Engine) -> Iterator[tuple[str, str]]:
    """(fast, full): houqin as served (the fast path in front) and its FastAPI app alone, on one database."""
    add_places(engine)
    with (
        time_machine.travel(LUNCH, tick=True),
        serve(create_app(settings, engine=engine)) as fast,
        serve(fastapi_of(create_app(settings, engine=engine))) as full,
    ):
        yield fast, full


def opened(url: str, scene: str = "canteen:north:12", **kw: Any) -> tuple[httpx.Client, dict[str, str]]:
    """A diner's browser on `url` with the form's hidden fields (its cookie kept by the client)."""
    client = httpx.Client(base_url=url, **kw)
    page = client.get(f"/h5/feedback?scene={scene}")
    assert page.status_code == 200, page.text
    return client, dict(FIELD.findall(page.text))


def post(
    client: httpx.Client, url: str, data: list[tuple[str, str]], *, multipart: bool = False
) -> httpx.Response:
    """POST the fields to `url` urlencoded (as the page sends a form without photos), or as multipart with
    an empty photo input (as it sends one with the picker left empty, no script)."""
    files = {"photos": ("", b"", "application/octet-stream")} if multipart else None
    return client.post(f"{url}/h5/feedback", data=data, files=files)


def answer(r: httpx.Response, key: str = "") -> tuple[int, dict[str, str], str]:
    """What a diner gets: status, the headers that matter, the body (the form's own key made neutral)."""
    headers = {h: r.headers[h] for h in HEADERS if h in r.headers}
    if key and "location" in headers:
        headers["location"] = headers["location"].replace(key, "KEY")
    return r.status_code, headers, r.text


def stored(engine: Engine) -> tuple[int, int]:
    with Session(engine) as s:
        return (
            int(s.execute(select(func.count()).select_from(Feedback)).scalar_one()),
            int(s.execute(select(func.count()).select_from(FeedbackForm)).scalar_one()),
        )


def reference_of(client: httpx.Client, r: httpx.Response) -> str:
    assert r.status_code == 303, r.text
    found = REFERENCE.search(client.get(r.headers["location"]).text)
    assert found
    return found.group(1)


REFUSALS: dict[str, dict[str, Any]] = {
    "bad key": {"key": "short"},
    "no scene": {"scene": "nowhere"},
    "unknown canteen": {"scene": "canteen:nosuch:1"},
    "no score": {"overall": None},
    "score out of range": {"overall": "6"},
    "aspect not a score": {"aspect0": "很好"},
    "comment too long": {"comment": "咸" * 501},
    "no form token": {"csrf": None},
    "a forged form token": {"csrf": "InRoZSBkaW5lciI.forged"},
    "too many fields": {"tag": ["偏咸"] * MAX_FIELDS},
    "one field too large": {"comment": "x" * (MAX_PART + 1)},
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_are_the_same_on_both_paths_and_store_nothing(
    servers: tuple[str, str], engine: Engine, case: str
) -> None:
    fast, full = servers
    seen = []
    for url in (fast, full):
        client, fields = opened(url)
        seen.append(answer(post(client, url, filled(fields, **REFUSALS[case]))))
    assert seen[0] == seen[1]
    status, headers, body = seen[0]
    assert status == 400 and headers["content-type"] == "text/html; charset=utf-8", body
    assert headers["cache-control"] == "no-store" and "未能提交" in body
    assert stored(engine) == (0, 0)


def test_a_submission_is_answered_alike_and_a_resubmit_gets_its_reference_on_either_path(
    servers: tuple[str, str], engine: Engine
) -> None:
    fast, full = servers
    first: list[Any] = []
    for url in (fast, full):
        client, fields = opened(url, scene=f"canteen:north:{len(first) + 1}")
        r = post(client, url, filled(fields))
        first.append((answer(r, fields["key"]), client, fields, reference_of(client, r)))
    assert first[0][0] == first[1][0]
    assert first[0][0][:2] == (303, {"content-length": "0", "location": "/h5/thanks?key=KEY&outcome=created"})
    # each form sent again, through the path that did not take it, and through the same one: its reference
    for (_, client, fields, reference), other in zip(first, (full, fast), strict=True):
        for url in (other, fast, full):
            again = post(client, url, filled(fields), multipart=url == full)
            assert answer(again, fields["key"])[:2] == (
                303,
                {"content-length": "0", "location": "/h5/thanks?key=KEY&outcome=replayed"},
            )
            assert reference_of(client, again) == reference
    assert stored(engine) == (2, 2)
    # the same fields as multipart (a page without its script): the FastAPI route, the same answers
    client, fields = opened(fast, scene="canteen:north:3")
    parts = post(client, fast, filled(fields, overall="9"), multipart=True)
    plain = post(client, fast, filled(fields, overall="9"))
    assert answer(parts) == answer(plain) and parts.status_code == 400


def test_forged_identities_are_refused_by_both_paths(
    servers: tuple[str, str], engine: Engine, settings: Settings
) -> None:
    fast, full = servers
    diner, fields = opened(fast)
    real = diner.cookies[identity.COOKIE]
    body, _, sig = real.rpartition(".")
    forged = {
        "no cookie": None,
        "its signature changed": f"{body}.{sig[::-1]}",
        "signed with another secret": URLSafeSerializer("guessed", salt="houqin-h5-diner").dumps(
            {"k": "h5", "i": "someone"}
        ),
        "the form token as the cookie": fields["csrf"],
    }
    for name, cookie in forged.items():
        seen = []
        for url in (fast, full):
            c = httpx.Client(cookies={identity.COOKIE: cookie} if cookie else None)
            seen.append(answer(post(c, url, filled(fields))))
        assert seen[0] == seen[1], name
        assert seen[0][0] == 400 and "页面已过期" in seen[0][2], name
    # a real diner sending another diner's form token
    other, theirs = opened(fast)
    for url in (fast, full):
        r = post(other, url, filled({**theirs, "csrf": fields["csrf"]}))
        assert r.status_code == 400 and "页面已过期" in r.text
    assert stored(engine) == (0, 0)


def test_rate_limits_and_edits_answer_alike(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    add_places(engine)
    limited = make_settings(settings.database_url, tmp_path / "v2", h5_diner_per_hour=3)
    with (
        time_machine.travel(LUNCH, tick=True),
        serve(create_app(limited, engine=engine)) as fast,
        serve(fastapi_of(create_app(limited, engine=engine))) as full,
    ):
        client, fields = opened(fast)
        reference = reference_of(client, post(client, fast, filled(fields)))
        edits = []
        for url in (fast, full):  # a new form of the same diner within the edit window: that feedback, edited
            _, fresh = opened(url, cookies=client.cookies)
            r = post(client, url, filled(fresh, overall="2"))
            edits.append(answer(r, fresh["key"]))
            assert reference_of(client, r) == reference
        assert edits[0] == edits[1] and "outcome=edited" in edits[0][1]["location"]
        refused = []
        for url in (fast, full):
            _, fresh = opened(url, cookies=client.cookies)
            refused.append(answer(post(client, url, filled(fresh))))
        assert refused[0] == refused[1] and refused[0][0] == 429 and "太频繁" in refused[0][2]
    assert stored(engine) == (1, 3)  # one feedback, its two edits; the refused forms are not stored


def test_the_fast_path_takes_the_plain_form_and_leaves_multipart_to_fastapi(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    route = h5.routes._submitted

    async def counted(request: Any, settings: Settings) -> Any:
        calls.append(request.headers["content-type"].split(";")[0])
        return await route(request, settings)

    monkeypatch.setattr(h5.routes, "_submitted", counted)
    before = _counted(client.get("/metrics").text)
    with time_machine.travel(LUNCH, tick=False):
        page = client.get("/h5/feedback?scene=canteen:north:12").text
        fields = dict(FIELD.findall(page))
        plain = client.post("/h5/feedback", data=filled(fields), follow_redirects=False)
        parts = client.post(
            "/h5/feedback",
            data=filled(fields),
            files={"photos": ("", b"", "application/octet-stream")},
            follow_redirects=False,
        )
    assert (plain.status_code, parts.status_code) == (303, 303)
    assert calls == ["multipart/form-data"]
    assert stored(engine) == (1, 1)
    assert _counted(client.get("/metrics").text) == before + 2  # both under the route, as FastAPI names it


def _counted(metrics: str) -> float:
    found = re.search(r'houqin_http_requests_total\{path="/h5/feedback",status="303"\} (\S+)', metrics)
    return float(found.group(1)) if found else 0.0


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    add_places(engine)
    with TestClient(create_app(settings, engine=engine), client=("127.0.0.1", 50000)) as c:
        yield c


def test_an_urlencoded_body_over_the_cap_is_refused_while_streaming(
    client: TestClient, engine: Engine
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"key=abcdefghijklmnopqrstuvwx&comment="
        for _ in range(40):  # 40 MB, no Content-Length: the cap is counted while reading
            yield b"x" * (1024 * 1024)

    response = client.post(
        "/h5/feedback", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413 and "上传内容太大" in response.text
    assert stored(engine) == (0, 0)


async def _starlette(body: bytes) -> list[tuple[str, Any]] | None:
    async def stream() -> Any:
        yield body

    parser = FormParser(
        Headers({"content-type": "application/x-www-form-urlencoded"}),
        stream(),
        max_fields=MAX_FIELDS,
        max_part_size=MAX_PART,
    )
    try:
        return list((await parser.parse()).multi_items())
    except MultiPartException:
        return None


_PIECES = st.sampled_from(
    ["a", "=", "&", "+", "%", "%2", "%26", "%3D", "%E4%B8%AD", "%FF", "中", "\xe9", "tag"]
)


@hsettings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join), st.integers(0, 70))
def test_the_urlencoded_parser_reads_what_starlette_reads(text: str, extra: int) -> None:
    body = text.encode("utf-8") + b"&x=1" * extra
    mine = parse_urlencoded(body)
    assert (None if mine is None else list(mine.multi_items())) == asyncio.run(_starlette(body))


@hsettings(max_examples=300, deadline=None)
@given(
    st.one_of(st.text(max_size=30), st.dictionaries(st.sampled_from(["k", "i"]), st.text(max_size=10))),
    st.sampled_from(["houqin-h5-diner", "houqin-h5-csrf"]),
    st.integers(0, 60),
    st.text(alphabet="abcXYZ019-_.=!", max_size=3),
)
def test_the_cookie_check_accepts_exactly_what_itsdangerous_accepts(
    value: Any, salt: str, at: int, junk: str
) -> None:
    secret = "a-link-secret-of-the-deployment"
    signed = URLSafeSerializer(secret, salt=salt).dumps(value)
    seal = identity._seal(secret, salt)
    for candidate in (signed, signed[:at] + junk + signed[at:], signed[:at] + signed[at + len(junk) :]):
        try:
            expected: Any = URLSafeSerializer(secret, salt=salt).loads(candidate)
        except BadSignature:
            expected = BadSignature
        try:
            got: Any = seal.loads(candidate)
        except BadSignature:
            got = BadSignature
        assert got == expected
