"""Rows written by the hot path's raw SQL read back identically through the ORM, and the reverse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session

from core.counters import Blocks, next_value, peek
from feedback import service
from feedback.models import Feedback
from ingest.batch import Batch
from ingest.store import Store


def test_raw_feedback_reads_back_through_the_orm(engine) -> None:  # type: ignore[no-untyped-def]
    at = datetime(2026, 11, 24, 4, 30, 12, 345678, tzinfo=UTC)
    with Session(engine) as s:
        row = service.create_feedback(
            Store(s),
            sender="o_x",
            local_day=date(2026, 11, 24),
            service_date=date(2026, 11, 24),
            meal="lunch",
            score=4,
            comment="红烧肉偏咸",
            created_at=at,
        )
        s.commit()
    with Session(engine) as s:
        fb = s.get(Feedback, row.id)
        assert fb is not None
        assert (fb.reference, fb.score, fb.meal, fb.comment, fb.status) == (
            "FK20261124-0001",
            4,
            "lunch",
            "红烧肉偏咸",
            "new",
        )
        assert fb.created_at == at and fb.service_date == date(2026, 11, 24)
        again = Store(s).get_feedback(row.id)
        assert (
            again is not None and again.service_date == date(2026, 11, 24) and again.comment == "红烧肉偏咸"
        )


def test_dialog_window_expiry_is_compared_in_utc(engine) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 24, 23, 59, 0, tzinfo=UTC)
    with Session(engine) as s:
        Store(s).open_window(sender="o_w", now=now, minutes=10, meal="dinner")
        s.commit()
    with Session(engine) as s:
        assert Store(s).current_window(sender="o_w", now=now + timedelta(minutes=9)) is not None
        assert Store(s).current_window(sender="o_w", now=now + timedelta(minutes=10)) is None


def test_counters_are_per_name_and_survive_rollback(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        assert [next_value(s, name="a") for _ in range(3)] == [1, 2, 3]
        assert next_value(s, name="b") == 1
        s.commit()
    with Session(engine) as s:
        assert next_value(s, name="a") == 4
        s.rollback()  # a rolled-back allocation is not used up: numbers stay gap-free
    with Session(engine) as s:
        assert peek(s, name="a") == 3 and next_value(s, name="a") == 4


def test_blocks_hand_out_unique_numbers_beside_single_steps(engine) -> None:  # type: ignore[no-untyped-def]
    a, b = Blocks(4), Blocks(4)  # two workers' writers
    taken: list[int] = []
    for blocks in (a, b, a, b, None, a):
        with Session(engine) as s:
            if blocks is None:
                taken.append(Store(s).next_number("FK"))  # the console, say: one at a time
            else:
                store = Store(s, batch=Batch(blocks))
                taken += [store.next_number("FK") for _ in range(3)]
            s.commit()
        if blocks is not None:
            blocks.committed()
    assert len(taken) == len(set(taken)) == 16
    with Session(engine) as s:
        assert peek(s, name="FK") >= max(taken)  # the counter is past every number handed out


def test_a_block_reserved_by_a_rolled_back_transaction_is_dropped(engine) -> None:  # type: ignore[no-untyped-def]
    blocks = Blocks(10)
    with Session(engine) as s:
        assert Store(s, batch=Batch(blocks)).next_number("FK") == 1
        s.rollback()  # the counter write is undone …
    blocks.rolled_back()  # … so the block must go too, or 2–10 could be handed out twice
    with Session(engine) as s:
        assert next_value(s, name="FK") == 1  # someone else takes 1
        s.commit()
    with Session(engine) as s:
        assert Store(s, batch=Batch(blocks)).next_number("FK") == 2  # a fresh block: 2–11
        s.commit()
    blocks.committed()
    with Session(engine) as s:
        assert (
            Store(s, batch=Batch(blocks)).next_number("FK") == 3
        )  # the kept block serves the next transaction
        s.rollback()
    blocks.rolled_back()  # nothing new was reserved: the block stays (3 is lost: a gap, never a repeat)
    with Session(engine) as s:
        assert Store(s, batch=Batch(blocks)).next_number("FK") == 4


def test_batched_windows_are_read_once_and_written_at_the_flush(engine) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
    with Session(engine) as s:
        Store(s).open_window(sender="o_old", now=now, minutes=10, meal="lunch")
        s.commit()
    with Session(engine) as s:
        store = Store(s, batch=Batch())
        assert store.deferred
        store.load_windows(["o_old", "o_new"])
        old = store.current_window(sender="o_old", now=now)
        assert old is not None and old.meal == "lunch"
        assert store.current_window(sender="o_new", now=now) is None
        store.open_window(sender="o_new", now=now, minutes=10, meal="dinner")
        store.extend_window(dialog=old, now=now + timedelta(minutes=5), minutes=10, feedback_id=None)
        # the batch sees its own changes before they are written
        new = store.current_window(sender="o_new", now=now)
        assert new is not None and new.meal == "dinner"
        store.flush()  # written here, by the unit of work that owns the batch
        s.commit()
    with Session(engine) as s:
        store = Store(s)
        new = store.current_window(sender="o_new", now=now + timedelta(minutes=9))
        assert new is not None and new.meal == "dinner" and new.id is not None
        old = store.current_window(sender="o_old", now=now + timedelta(minutes=14))
        assert old is not None
    with Session(engine) as s:
        store = Store(s, batch=Batch())
        store.load_windows(["o_gone"])
        store.open_window(sender="o_gone", now=now, minutes=10)
        s.rollback()  # a batch that fails writes no window
    with Session(engine) as s:
        assert Store(s).current_window(sender="o_gone", now=now) is None
    with Session(engine) as s:
        store = Store(s, batch=Batch())
        store.open_window(sender="o_unflushed", now=now, minutes=10)
        s.commit()  # no listener flushes for the batch: only its unit of work does
    with Session(engine) as s:
        assert Store(s).current_window(sender="o_unflushed", now=now) is None


def test_a_held_connection_is_reused_until_dropped_or_the_engine_is_disposed(engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from core.db import HeldConnection, unit_of_work

    held = HeldConnection(engine)
    first = held.get()
    with unit_of_work(first) as s:
        s.execute(text("INSERT INTO counter (name, value) VALUES ('held', 1)"))
    assert held.get() is first  # committed, still held: no checkout (and no ping) for the next one
    with Session(engine) as s:
        assert peek(s, name="held") == 1  # the held connection's commit is visible to others
    held.drop()
    second = held.get()
    assert second is not first and first.closed
    engine.dispose()  # e.g. after an outage: nothing may keep the old pool's connections
    assert held.get() is not second
    held.close()
