"""Work other than deliveries in the ingest writer (ingest.work: the H5 form's submissions): grouped into the
writer's batches beside messages, a refusal answered alone, any other failure retried piece by piece."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from bot.xmlmsg import dedupe_key, to_incoming
from core.settings import Settings
from core.xmlsafe import parse_xml
from feedback.models import Feedback, Site
from handlers.routes import build_router
from ingest.delivery import Delivery
from ingest.work import Work, run_work
from ingest.writer import Ingestor


class Refused(Exception):
    """A refusal: raised before anything is written."""


def _site(code: str, *, refuse: bool = False, bug: bool = False):  # type: ignore[no-untyped-def]
    def fn(session: Session) -> str:
        if refuse:
            raise Refused(code)
        session.add(Site(code=code, name=f"食堂{code}"))
        session.flush()
        if bug:
            raise ValueError("a bug after writing")
        return code

    return fn


def _codes(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return sorted(s.execute(select(col(Site.code))).scalars())


def _delivery(i: int) -> Delivery:
    xml = (
        f"<xml><ToUserName>g</ToUserName><FromUserName>o_w{i}</FromUserName><CreateTime>{int(time.time())}"
        f"</CreateTime><MsgType>text</MsgType><Content>4分 第{i}条</Content><MsgId>{900 + i}</MsgId></xml>"
    )
    data = parse_xml(xml)
    return Delivery(key=dedupe_key(data, app="mp"), incoming=to_incoming(data, app="mp"), raw_xml=xml)


def test_work_and_messages_share_the_writer_and_a_refusal_is_answered_alone(
    engine: Engine, settings: Settings
) -> None:
    ingestor = Ingestor(engine, router=build_router(), settings=settings)
    ingestor.start()
    try:

        async def main() -> list[object]:
            calls = [
                ingestor.call(_site(f"w{i:02d}", refuse=i % 5 == 0), refusals=(Refused,), timeout=30)
                for i in range(30)
            ]
            messages = [ingestor.submit(_delivery(i)) for i in range(10)]
            return list(await asyncio.gather(*calls, *messages, return_exceptions=True))

        results = asyncio.run(main())
    finally:
        ingestor.stop()
    refused = [r for r in results[:30] if isinstance(r, Refused)]
    assert [str(r) for r in refused] == [f"w{i:02d}" for i in range(0, 30, 5)]
    assert _codes(engine) == [f"w{i:02d}" for i in range(30) if i % 5]
    assert all("FK" in r.reply for r in results[30:])  # type: ignore[union-attr]
    with Session(engine) as s:
        assert int(s.execute(select(func.count()).select_from(Feedback)).scalar_one()) == 10
    assert ingestor.batches < 40  # grouped: fewer commits than pieces of work and messages


def test_a_piece_that_fails_after_writing_is_retried_alone_and_the_others_kept(engine: Engine) -> None:
    results = run_work(
        engine,
        [Work(_site("a")), Work(_site("b", bug=True)), Work(_site("c")), Work(_site("d", refuse=True))],
    )
    assert results[0] == "a" and results[2] == "c"
    assert isinstance(results[1], ValueError) and isinstance(results[3], Refused)
    assert _codes(engine) == ["a", "c"]  # the failed piece's write was rolled back with its retry


def test_a_refusal_alone_needs_no_retry(engine: Engine) -> None:
    results = run_work(engine, [Work(_site("x", refuse=True), (Refused,)), Work(_site("y"))])
    assert isinstance(results[0], Refused) and results[1] == "y"
    assert _codes(engine) == ["y"]
