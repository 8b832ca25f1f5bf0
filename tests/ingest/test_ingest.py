"""Group-commit ingest: batches, duplicates inside a batch, a failing handler isolated and stored."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select
from sqlmodel import Session

from bot.xmlmsg import dedupe_key, to_incoming
from core.xmlsafe import parse_xml
from feedback.models import Feedback, InboundMessage
from handlers import diner, texts
from handlers.router import Context, Incoming, Outcome
from handlers.routes import build_router
from ingest.delivery import Delivery
from ingest.writer import Ingestor, process_batch


def delivery(content: str, msg_id: int, sender: str = "o_i") -> Delivery:
    xml = (
        f"<xml><ToUserName>g</ToUserName><FromUserName>{sender}</FromUserName><CreateTime>{int(time.time())}"
        f"</CreateTime><MsgType>text</MsgType><Content>{content}</Content><MsgId>{msg_id}</MsgId></xml>"
    )
    data = parse_xml(xml)
    return Delivery(key=dedupe_key(data, app="mp"), incoming=to_incoming(data, app="mp"), raw_xml=xml)


def test_batch_with_duplicates_stores_each_key_once(engine, settings) -> None:  # type: ignore[no-untyped-def]
    batch = [
        delivery("4分 好", 1),
        delivery("4分 好", 1),
        delivery("2分 凉", 2, "o_j"),
        delivery("4分 好", 1),
    ]
    results = process_batch(engine, batch, router=build_router(), settings=settings)
    assert [r.duplicate for r in results] == [False, True, False, True]
    assert results[0].reply == results[1].reply == results[3].reply
    with Session(engine) as s:
        assert len(s.execute(select(Feedback)).scalars().all()) == 2
        assert len(s.execute(select(InboundMessage)).scalars().all()) == 2


def test_failing_handler_is_isolated_and_the_message_kept(engine, settings) -> None:  # type: ignore[no-untyped-def]
    router = build_router()
    i = next(n for n, (_, h) in enumerate(router.rules) if h is diner.text)  # the text handler
    real = router.rules[i][1]

    def flaky(msg: Incoming, ctx: Context) -> Outcome:
        if "炸" in msg.content:
            raise RuntimeError("handler bug")
        return real(msg, ctx)

    router.rules[i] = (router.rules[i][0], flaky)
    batch = [delivery("5分 好", 11), delivery("炸了", 12), delivery("3分 一般", 13)]
    results = process_batch(engine, batch, router=router, settings=settings)
    assert results[1].reply == texts.FAILED
    assert "FK" in results[0].reply and "FK" in results[2].reply
    with Session(engine) as s:
        rows = {r.dedupe_key: r for r in s.execute(select(InboundMessage)).scalars()}
        assert rows["mp:m:o_i:12"].outcome == "failed" and "炸了" in rows["mp:m:o_i:12"].raw_xml
        assert {rows["mp:m:o_i:11"].outcome, rows["mp:m:o_i:13"].outcome} == {"handled"}
        assert len(s.execute(select(Feedback)).scalars().all()) == 2


def test_ingestor_thread_batches_concurrent_submissions(engine, settings) -> None:  # type: ignore[no-untyped-def]
    ingestor = Ingestor(engine, router=build_router(), settings=settings)
    ingestor.start()
    try:

        async def main() -> list[str]:
            deliveries = [delivery(f"{1 + i % 5}分 第{i}条", 100 + i, f"o_{i}") for i in range(60)]
            results = await asyncio.gather(*(ingestor.submit(d) for d in deliveries))
            return [r.reply for r in results]

        replies = asyncio.run(main())
    finally:
        ingestor.stop()
    assert all("FK" in r for r in replies) and len(set(replies)) == 60
    assert ingestor.delivered == 60 and ingestor.batches < 60  # grouped into fewer commits


def test_one_batch_sees_its_own_windows_like_messages_one_at_a_time(engine, settings) -> None:  # type: ignore[no-untyped-def]
    router = build_router()
    first = process_batch(engine, [delivery("5分 早餐不错", 40, "o_b")], router=router, settings=settings)
    batch = [
        delivery("反馈", 41, "o_a"),  # opens a window …
        delivery("4分", 42, "o_a"),  # … scored in the same batch …
        delivery("米饭有点硬", 43, "o_a"),  # … and commented on
        delivery("5分 早餐不错", 40, "o_b"),  # a retry of a message stored by an earlier batch
        delivery("窗口排队太久", 44, "o_b"),  # added to o_b's window from that earlier batch
    ]
    results = process_batch(engine, batch, router=router, settings=settings)
    assert [r.duplicate for r in results] == [False, False, False, True, False]
    assert results[3].reply == first[0].reply and results[3].feedback_id == first[0].feedback_id
    assert results[1].feedback_id == results[2].feedback_id is not None
    assert results[4].feedback_id == first[0].feedback_id
    with Session(engine) as s:
        a = s.get(Feedback, results[1].feedback_id)
        b = s.get(Feedback, first[0].feedback_id)
        assert a is not None and (a.score, a.comment) == (4, "米饭有点硬")
        assert b is not None and b.comment == "早餐不错\n窗口排队太久"
        stored = {r.dedupe_key: r for r in s.execute(select(InboundMessage)).scalars()}
        assert len(stored) == 5 and all(r.reply for r in stored.values())


def test_two_writers_give_unique_reference_numbers(engine, settings) -> None:  # type: ignore[no-untyped-def]
    from core.counters import Blocks

    router = build_router()
    writers = [Blocks(3), Blocks(3)]
    results = []
    for i in range(12):  # the two workers' batches interleave
        results += process_batch(
            engine,
            [delivery(f"{1 + i % 5}分 第{i}条", 100 + i, f"o_{i}")],
            router=router,
            settings=settings,
            numbers=writers[i % 2],
        )
    with Session(engine) as s:
        by_id = {f.id: f.reference for f in s.execute(select(Feedback)).scalars()}
    assert len(by_id) == 12 and len(set(by_id.values())) == 12
    for r in results:  # each reply names its own feedback's number
        assert r.feedback_id is not None and by_id[r.feedback_id] in r.reply


def test_feedback_of_a_batch_is_written_at_commit_under_its_reserved_ids(engine, settings) -> None:  # type: ignore[no-untyped-def]
    from feedback.models import FeedbackMedia
    from search.service import search

    now = int(time.time())
    photo = (
        f"<xml><ToUserName>g</ToUserName><FromUserName>o_p</FromUserName><CreateTime>{now}</CreateTime>"
        "<MsgType>image</MsgType><PicUrl>http://x/p.jpg</PicUrl><MediaId>M1</MediaId><MsgId>62</MsgId></xml>"
    )
    data = parse_xml(photo)
    batch = [
        delivery("2分 红烧肉太咸", 61, "o_p"),
        Delivery(key=dedupe_key(data, app="mp"), incoming=to_incoming(data, app="mp"), raw_xml=photo),
        delivery("5分 米饭很香", 63, "o_q"),
    ]
    router = build_router()
    results = process_batch(engine, batch, router=router, settings=settings)
    # the photo went to the feedback created two messages earlier in the same (uncommitted) batch
    assert results[0].feedback_id == results[1].feedback_id is not None
    later = process_batch(engine, [delivery("4分 汤不错", 64, "o_r")], router=router, settings=settings)
    with Session(engine) as s:
        rows = {f.id: f for f in s.execute(select(Feedback)).scalars()}
        assert set(rows) == {results[0].feedback_id, results[2].feedback_id, later[0].feedback_id}
        assert rows[results[0].feedback_id].comment == "红烧肉太咸"  # type: ignore[index]
        media = s.execute(select(FeedbackMedia)).scalars().one()
        assert media.feedback_id == results[0].feedback_id and media.media_id == "M1"
        # the search index has them too (SQLite's FTS trigger, PostgreSQL's generated vector)
        found = search(s, query="米饭", archived_only=False)
        assert [h.feedback_id for h in found.hits] == [results[2].feedback_id]


def test_a_write_that_fails_at_the_end_of_a_batch_loses_nothing(engine, settings) -> None:  # type: ignore[no-untyped-def]
    """The batch's writes are sent last (on PostgreSQL in one pipeline): one failing there rolls back the
    batch, which is then stored message by message, and the held connection keeps working."""
    from core.clock import to_local, utcnow
    from core.counters import Blocks
    from core.db import HeldConnection

    router = build_router()
    day = to_local(utcnow(), settings.tz).date()
    with Session(engine) as s:  # someone already holds the number the batch will hand out first
        s.add(
            Feedback(reference=f"FK{day:%Y%m%d}-0001", sender="o_other", service_date=day, comment="先来的")
        )
        s.commit()
    held = HeldConnection(engine)
    numbers = Blocks(32)
    batch = [delivery("4分 汤不错", 71, "o_s"), delivery("好吃", 72, "o_t")]
    results = process_batch(held.get(), batch, router=router, settings=settings, numbers=numbers)
    assert [r.stored for r in results] == [True, True]
    # the same connection serves the next batch (its number still collides here: kept as `failed`)
    later = process_batch(held.get(), [delivery("5分 很好", 73, "o_u")], router=router, settings=settings)
    assert later[0].stored
    with Session(engine) as s:
        keys = {r.dedupe_key for r in s.execute(select(InboundMessage)).scalars()}
        assert keys == {
            "mp:m:o_s:71",
            "mp:m:o_t:72",
            "mp:m:o_u:73",
        }  # every delivery kept, whatever its outcome
        refs = [f.reference for f in s.execute(select(Feedback)).scalars()]
        assert len(refs) == len(set(refs))
    held.close()


def test_no_listener_is_registered_on_the_session_class() -> None:
    """The batch's writes are flushed by its unit of work, not by a hook that fires for every session."""
    from sqlalchemy.orm import Session as OrmSession
    from sqlalchemy.orm.events import SessionEvents

    import ingest.writer  # noqa: F401  (the whole message path is imported)
    import server.app  # noqa: F401

    hooks = [name for name in dir(SessionEvents) if not name.startswith("_") and name != "dispatch"]
    assert "before_commit" in hooks and "after_transaction_end" in hooks
    for cls in (Session, OrmSession):
        session = cls()
        for name in hooks:
            listeners = getattr(session.dispatch, name, None)
            if listeners is not None:
                assert len(listeners) == 0, f"a {name} listener is registered on {cls.__name__}"


def test_a_batch_writes_at_its_flush_in_order_and_a_plain_store_at_once(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, date, datetime
    from typing import Any

    import ingest.store
    from feedback import service
    from handlers.models import Dialog
    from ingest.batch import Batch
    from ingest.store import Store

    now = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
    day = date(2026, 11, 24)
    written: list[str] = []

    class Recorded:
        def __init__(self, name: str, statement: Any) -> None:
            self.name, self.statement = name, statement

        def run(self, on: Any, rows: list[dict[str, Any]]) -> Any:
            written.append(self.name)
            return self.statement.run(on, rows)

    monkeypatch.setattr(
        ingest.store, "_INSERT_FEEDBACK_ROWS", Recorded("feedback", ingest.store._INSERT_FEEDBACK_ROWS)
    )
    monkeypatch.setattr(ingest.store, "_WRITE_WINDOWS", Recorded("windows", ingest.store._WRITE_WINDOWS))

    with Session(engine) as s:
        store = Store(s, batch=Batch())
        assert store.deferred
        # the window is changed before the feedback is created: the flush still writes feedback first
        store.open_window(sender="o_f", now=now, minutes=10)
        fb = service.create_feedback(store, sender="o_f", local_day=day, service_date=day, score=4)
        window = store.current_window(sender="o_f", now=now)
        assert window is not None
        store.extend_window(dialog=window, now=now, minutes=10, feedback_id=fb.id)
        assert store.get_feedback(fb.id) is fb  # the batch answers from memory
        assert written == []
        s.flush()
        assert s.get(Feedback, fb.id) is None  # nothing written before the batch's flush
        store.flush()
        assert written == ["feedback", "windows"]
        store.flush()  # again: nothing left to write
        assert written == ["feedback", "windows"]
        s.commit()
    with Session(engine) as s:
        assert s.get(Feedback, fb.id) is not None
        assert s.execute(select(Dialog).where(Dialog.sender == "o_f")).scalar_one().feedback_id == fb.id

    with Session(engine) as s:
        store = Store(s)
        assert not store.deferred
        fb2 = service.create_feedback(store, sender="o_g", local_day=day, service_date=day, score=2)
        store.open_window(sender="o_g", now=now, minutes=10, feedback_id=fb2.id)
        # written at once: the same transaction reads them through the ORM, no flush, no commit
        assert s.get(Feedback, fb2.id) is not None
        assert s.execute(select(Dialog).where(Dialog.sender == "o_g")).scalar_one().feedback_id == fb2.id
        assert written == ["feedback", "windows"]  # the batch statements were not used
        s.rollback()


def test_the_dialog_row_follows_the_dialog_table() -> None:
    from dataclasses import fields

    from feedback.models import Feedback as FeedbackTable
    from feedback.service import FeedbackRow
    from handlers.models import Dialog
    from ingest.batch import DialogRow

    assert [f.name for f in fields(DialogRow)] == [c.name for c in Dialog.__table__.columns]  # type: ignore[attr-defined]
    assert {f.name for f in fields(FeedbackRow)} <= {c.name for c in FeedbackTable.__table__.columns}  # type: ignore[attr-defined]
