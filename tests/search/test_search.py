"""Chinese full-text search (feedback.tokens, search/): tokens, the query grammar, filters, archived-only, and a
property test holding the index to a plain `LIKE '%q%'` scan on both databases, through inserts, updates
and deletes."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session

from exports.models import Volume, VolumeItem
from feedback import service
from feedback import tokens as ft
from feedback.meetings import add_meeting
from feedback.models import Feedback, Site
from feedback.tokens import SEPARATOR, search_tokens
from ingest.store import Store
from search import postgres as sp
from search import service as ss
from search import sqlite as sq
from search.grammar import parse_query
from search.service import search, search_volumes, snippet
from search.tables import ARCHIVED_VOLUMES

# --- tokens ----------------------------------------------------------------------------------------------


def test_tokens_are_characters_and_pairs_of_each_run() -> None:
    assert search_tokens("米饭很硬") == f"米饭 饭很 很硬 {SEPARATOR} 米 饭 很 硬"


def test_a_single_character_run_has_no_pair_but_its_character() -> None:
    assert search_tokens("咸") == "咸"
    assert search_tokens("") == ""
    assert search_tokens("，。！") == ""


def test_punctuation_and_spaces_split_runs_and_pairs_never_cross_them() -> None:
    tokens = search_tokens("太咸，米饭 硬").split()
    assert "咸米" not in tokens and "饭硬" not in tokens
    assert tokens == ["太咸", SEPARATOR, "米饭", SEPARATOR, "太", "咸", "米", "饭", "硬"]


def test_tokens_are_nfkc_normalised_and_lower_case() -> None:
    assert search_tokens("ＷｉＦｉ差") == search_tokens("wifi差")
    assert "wi" in search_tokens("WiFi").split()


def test_ascii_and_digits_are_indexed_like_any_run() -> None:
    tokens = search_tokens("空调26度").split()
    assert {"空调", "调2", "26", "6度", "2", "6"} <= set(tokens)


def test_site_name_and_meeting_title_are_separate_runs() -> None:
    tokens = search_tokens("好吃", "一食堂", "年度工作会").split()
    assert "吃一" not in tokens and "堂年" not in tokens
    assert {"食堂", "工作"} <= set(tokens)


def test_characters_are_listed_once() -> None:
    assert search_tokens("好好好").split().count("好") == 1


def test_filter_tokens_close_the_column() -> None:
    tokens = search_tokens("米饭", "一食堂", service_date=date(2026, 10, 3), meal="lunch", site_id=3).split()
    assert tokens[-3:] == ["zzm202610", "zzmeallunch", "zzsite3"]
    assert search_tokens("茶水", meeting_id=12).split()[-1] == "zzmtg12"
    # never a character or a pair: text cannot produce them
    assert all(len(t) > 2 for t in (ft.SEPARATOR, ft.OPEN, ft.month_token(2026, 1), ft.meal_token("x")))


def test_term_phrases() -> None:
    assert ft.term_phrases("米") == [["米"]]
    assert ft.term_phrases("米饭") == [["米饭"]]
    assert ft.term_phrases("红烧肉") == [["红烧", "烧肉"]]
    assert ft.term_phrases("太咸，米饭") == [["太咸"], ["米饭"]]
    assert ft.term_phrases("，") == []


def test_match_expressions() -> None:
    phrases = [["红烧", "烧肉"], ["咸"]]
    assert sq.fts5_match(phrases) == '"红烧 烧肉" AND "咸"'
    assert sp.tsquery_text(phrases) == "('红烧' <-> '烧肉') & ('咸')"
    groups = [["zzm202610", "zzm202611"]]
    assert sq.fts5_match(phrases, groups, exclude="zzopen") == (
        '("红烧 烧肉" AND "咸" AND ("zzm202610" OR "zzm202611")) NOT "zzopen"'
    )
    assert sp.tsquery_text([], groups) == "('zzm202610' | 'zzm202611')"


def test_snippet_centres_on_the_first_term_and_keeps_short_comments_whole() -> None:
    assert snippet("米饭硬", ["米饭"]) == "米饭硬"
    long = "今天" * 30 + "红烧肉太咸了" + "明天" * 30
    piece = snippet(long, ["红烧肉"])
    assert "红烧肉" in piece and piece.startswith("…") and piece.endswith("…")
    assert len(piece) <= ss.SNIPPET_CHARS + 2
    assert snippet("第一行\n第二行", []) == "第一行 第二行"


# --- the query grammar -----------------------------------------------------------------------------------

SITES = [Site(id=1, code="yst", name="机关一食堂"), Site(id=2, code="EST", name="二食堂")]


def test_parse_query_years_and_months() -> None:
    q = parse_query("2026 红烧肉", sites=[], meetings=[])
    assert q.terms == ("红烧肉",) and q.years == {2026}
    assert parse_query("2026年", sites=[], meetings=[]).years == {2026}
    assert parse_query("10月", sites=[], meetings=[]).months == {10}
    assert parse_query("十月份", sites=[], meetings=[]).months == {10}
    assert parse_query("2026年10月", sites=[], meetings=[]).year_months == {(2026, 10)}
    assert parse_query("2026-10", sites=[], meetings=[]).year_months == {(2026, 10)}
    assert parse_query("2026 10月", sites=[], meetings=[]).periods() == [(2026, 10)]
    # not dates: out-of-range years and months stay search terms
    assert parse_query("1688 13月", sites=[], meetings=[]).terms == ("1688", "13月")


def test_parse_query_meals_sites_meetings() -> None:
    class M:
        id = 7
        code = "HY2026"

    q = parse_query("午饭 中餐 晚餐 机关一食堂 est hy2026 空调", sites=SITES, meetings=[M()])
    assert q.meals == {"lunch", "dinner"}
    assert q.site_ids == {1, 2}
    assert q.meeting_ids == {7}
    assert q.terms == ("空调",)
    assert q.has_filters and not q.is_empty


def test_parse_query_terms_are_normalised_deduplicated_and_punctuation_only_words_dropped() -> None:
    q = parse_query("ＷＩＦＩ wifi ， 一食堂", sites=SITES, meetings=[])
    assert q.terms == ("wifi", "一食堂")  # part of a site name is a term, not a filter
    assert parse_query("  ", sites=[], meetings=[]).is_empty


# --- against the database --------------------------------------------------------------------------------


def _fb(
    s: Session,
    comment: str,
    *,
    day: date = date(2026, 10, 15),
    site_id: int | None = None,
    meeting_id: int | None = None,
    meal: str | None = "lunch",
    channel: str = "canteen",
) -> int:
    row = service.create_feedback(
        Store(s),
        sender="o_test",
        local_day=day,
        service_date=day,
        site_id=site_id,
        meeting_id=meeting_id,
        meal=meal,
        channel=channel,
        comment=comment,
        created_at=datetime(day.year, day.month, day.day, 4, tzinfo=UTC),
    )
    return row.id


def _bind(
    s: Session, ids: list[int], *, status: str = "sealed", period: str = "2026-10", no: int = 1
) -> Volume:
    code = f"J001-WS·{period[:4]}-D10-CYF-{no:04d}"
    vol = Volume(
        archival_code=code,
        scope=f"J001-WS·{period[:4]}-D10-CYF",
        volume_no=no,
        period=period,
        channel="canteen",
        retention="D10",
        problem_code="CYF",
        title=f"示例市机关事务管理局{period[:4]}年{int(period[5:])}月机关食堂就餐反馈",
        item_count=len(ids),
        date_from=date(2026, 10, 1),
        date_to=date(2026, 10, 31),
        status=status,
        file_name=f"{code}.xlsx",
    )
    s.add(vol)
    s.flush()
    assert vol.id is not None
    for seq, fid in enumerate(ids, 1):
        s.add(VolumeItem(volume_id=vol.id, seq=seq, item_code=f"{code}/{seq:04d}", feedback_id=fid))
    s.execute(
        text("UPDATE feedback SET volume_id = :v WHERE id = :id"), [{"v": vol.id, "id": fid} for fid in ids]
    )
    s.flush()
    return vol


def _ids(s: Session, query: str, *, archived_only: bool = False) -> set[int]:
    result = search(s, query=query, archived_only=archived_only, limit=10_000)
    assert result.total == len(result.hits)
    return {h.feedback_id for h in result.hits}


def test_two_character_words_match(session: Session) -> None:
    rice = _fb(session, "米饭有点硬")
    ac = _fb(session, "空调太冷了")
    _fb(session, "米粉不错，饭菜一般")  # 米 and 饭 both, never next to each other
    assert _ids(session, "米饭") == {rice}
    assert _ids(session, "空调") == {ac}
    assert _ids(session, "空调 米饭") == set()


def test_single_characters_and_long_phrases_match(session: Session) -> None:
    a = _fb(session, "红烧肉偏咸")
    b = _fb(session, "汤太咸")
    c = _fb(session, "红烧茄子，肉偏少")
    assert _ids(session, "咸") == {a, b}
    assert _ids(session, "红烧肉") == {a}
    assert _ids(session, "肉") == {a, c}
    assert _ids(session, "红烧 偏") == {a, c}
    assert _ids(session, "烧肉偏咸") == {a}
    assert _ids(session, "茄子肉") == set()  # across the comma
    assert _ids(session, "咸，") == {a, b}  # punctuation in a term only splits it


def test_ascii_words_and_numbers_match_as_substrings(session: Session) -> None:
    a = _fb(session, "WiFi信号差")
    b = _fb(session, "空调开到26度")
    assert _ids(session, "wifi") == {a}
    assert _ids(session, "IFI信") == {a}
    assert _ids(session, "26度") == {b}
    assert _ids(session, "6") == {b}


def test_terms_match_the_site_name_and_meeting_title(session: Session) -> None:
    site = Site(code="yst", name="机关一食堂")
    session.add(site)
    session.flush()
    meeting = add_meeting(
        session, code="NH2026", title="年度工作会议", starts_on=date(2026, 10, 9), ends_on=date(2026, 10, 10)
    )
    in_site = _fb(session, "米饭硬", site_id=site.id)
    in_meeting = _fb(session, "茶水不够", meeting_id=meeting.id, channel="meeting", meal=None)
    assert _ids(session, "一食堂") == {in_site}
    assert _ids(session, "工作会议 茶水") == {in_meeting}
    assert _ids(session, "硬机") == set()  # not across comment and site name
    # the whole name or the code is a filter
    assert _ids(session, "机关一食堂") == {in_site}
    assert _ids(session, "YST") == {in_site}
    assert _ids(session, "nh2026") == {in_meeting}


def test_date_meal_and_site_filters(session: Session, paging: str) -> None:
    s1 = Site(code="s1", name="一食堂")
    s2 = Site(code="s2", name="二食堂")
    session.add_all([s1, s2])
    session.flush()
    oct_lunch = _fb(session, "米饭硬", day=date(2026, 10, 3), site_id=s1.id, meal="lunch")
    oct_dinner = _fb(session, "米饭硬", day=date(2026, 10, 31), site_id=s2.id, meal="dinner")
    nov = _fb(session, "米饭硬", day=date(2026, 11, 1), site_id=s1.id, meal="breakfast")
    last_oct = _fb(session, "米饭硬", day=date(2025, 10, 20), site_id=s1.id, meal="lunch")
    everything = {oct_lunch, oct_dinner, nov, last_oct}
    assert _ids(session, "米饭") == everything
    assert _ids(session, "米饭 2026") == {oct_lunch, oct_dinner, nov}
    assert _ids(session, "米饭 2025年") == {last_oct}
    assert _ids(session, "米饭 10月") == {oct_lunch, oct_dinner, last_oct}
    assert _ids(session, "米饭 2026年10月") == {oct_lunch, oct_dinner}
    assert _ids(session, "米饭 2026-11") == {nov}
    assert _ids(session, "米饭 2026 10月") == {oct_lunch, oct_dinner}
    assert _ids(session, "米饭 午饭") == {oct_lunch, last_oct}
    assert _ids(session, "米饭 早点 晚餐") == {oct_dinner, nov}
    assert _ids(session, "米饭 二食堂") == {oct_dinner}
    assert _ids(session, "s1 2026") == {oct_lunch, nov}  # filters alone
    assert _ids(session, "2027") == set()


def test_archived_only_needs_a_sealed_or_received_volume(session: Session, paging: str) -> None:
    sealed = _fb(session, "米饭硬", day=date(2026, 10, 5))
    received = _fb(session, "米饭太硬", day=date(2026, 10, 6))
    building = _fb(session, "米饭硬", day=date(2026, 10, 7))
    unbound = _fb(session, "米饭硬", day=date(2026, 10, 8))
    v1 = _bind(session, [sealed], status="sealed", no=1)
    _bind(session, [received], status="received", no=2)
    _bind(session, [building], status="building", no=3)
    assert _ids(session, "米饭", archived_only=True) == {sealed, received}
    assert _ids(session, "米饭", archived_only=False) == {sealed, received, building, unbound}
    result = search(session, query="米饭", archived_only=False, limit=10)
    by_id = {h.feedback_id: h for h in result.hits}
    assert by_id[sealed].item_code == f"{v1.archival_code}/0001"
    assert by_id[sealed].archival_code == v1.archival_code
    assert by_id[sealed].volume_title == v1.title
    assert by_id[building].item_code is None and by_id[building].archival_code is None
    assert by_id[unbound].archival_code is None
    assert by_id[received].snippet == "米饭太硬"


def test_order_paging_and_exact_totals(session: Session, paging: str) -> None:
    ids = [_fb(session, f"米饭硬 第{i}条", day=date(2026, 10, 1 + i % 5)) for i in range(12)]
    first = search(session, query="米饭", archived_only=False, limit=5)
    assert len(first.hits) == 5
    assert first.total == 12 if first.total_exact else 5 <= first.total < 12
    keys = [(h.service_date, h.reference) for h in first.hits]
    assert [k[0] for k in keys] == sorted((k[0] for k in keys), reverse=True)
    everything = search(session, query="米饭", archived_only=False, limit=100).hits
    expected = sorted(everything, key=lambda h: h.reference)
    expected.sort(key=lambda h: h.service_date, reverse=True)
    assert [h.feedback_id for h in everything] == [h.feedback_id for h in expected]
    assert {h.feedback_id for h in everything} == set(ids)
    pages = [search(session, query="米饭", archived_only=False, limit=5, offset=o) for o in (0, 5, 10, 15)]
    assert [len(p.hits) for p in pages] == [5, 5, 2, 0]
    assert all(
        p.total == 12 if p.total_exact else 5 + o <= p.total < 12
        for p, o in zip(pages, (0, 5, 10, 15), strict=True)
    )
    assert [h.feedback_id for p in pages for h in p.hits] == [h.feedback_id for h in everything]


def test_totals_are_exact_up_to_the_cap_then_a_lower_bound(
    session: Session, paging: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ss, "TOTAL_CAP", 4)
    days = [date(2026, 10, 20), date(2026, 9, 3), date(2026, 8, 14), date(2025, 12, 1)]
    ids = [_fb(session, f"米饭硬 第{i}条", day=days[i % 4]) for i in range(7)]
    _fb(session, "空调太冷")
    everything = search(session, query="米饭", archived_only=False, limit=100)
    assert everything.total == 7 and everything.total_exact  # the page reaches past the cap
    assert {h.feedback_id for h in everything.hits} == set(ids)
    order = [h.feedback_id for h in everything.hits]
    first = search(session, query="米饭", archived_only=False, limit=2)
    assert (first.total, first.total_exact) == (4, False)  # more than 4
    assert [h.feedback_id for h in first.hits] == order[:2]
    third = search(session, query="米饭", archived_only=False, limit=2, offset=4)
    assert (third.total, third.total_exact) == (6, False)  # never below the end of the page
    assert [h.feedback_id for h in third.hits] == order[4:6]
    last = search(session, query="米饭", archived_only=False, limit=2, offset=6)
    assert (last.total, last.total_exact) == (7, True)
    assert [h.feedback_id for h in last.hits] == order[6:]
    few = search(session, query="空调", archived_only=False, limit=2)
    assert (few.total, few.total_exact) == (1, True)


def test_chat_says_more_than_the_cap(  # type: ignore[no-untyped-def]
    settings, engine, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from core.db import unit_of_work
    from exports.seal import compile_locked
    from lookups import identity
    from lookups import texts as t
    from server.app import create_app
    from tests.lookups.test_lookups import bind_with_code, roster, say
    from tests.support.volume_data import fill_period

    monkeypatch.setattr(ss, "TOTAL_CAP", 8)
    fill_period(engine, n=12, comment="红烧肉偏咸，米饭有点硬")
    compile_locked(engine, settings=settings, period="2026-10")
    with TestClient(create_app(settings, engine=engine)) as client:
        with unit_of_work(engine) as s:
            identity.import_roster(s, path=roster(tmp_path, [["A009", "赵六", "后勤处", ""]]))
            bind_with_code(s, openid="o_zhao", staff_no="A009", name="赵六")
        first = say(client, "查档 米饭", "o_zhao")  # 12 archived matches
        assert t.SEARCH_HEAD_MANY.format(query="米饭", total=8, first=1, last=5) in first
        assert t.SEARCH_MORE in first
        second = say(client, "更多", "o_zhao")
        assert t.SEARCH_HEAD_MANY.format(query="米饭", total=10, first=6, last=10) in second
        third = say(client, "更多", "o_zhao")
        assert (
            t.SEARCH_HEAD.format(query="米饭", total=12, first=11, last=12) in third and t.SEARCH_END in third
        )


def test_adding_to_a_feedback_keeps_its_tokens(session: Session) -> None:
    fid = _fb(session, "米饭硬")
    row = Store(session).get_feedback(fid)
    assert row is not None
    service.add_to_feedback(Store(session), feedback=row, comment="空调也太冷", actor="o_test")
    assert _ids(session, "空调") == {fid}
    assert _ids(session, "硬空") == set()  # the added text starts a new line
    service.add_to_feedback(Store(session), feedback=row, score=2, actor="o_test")
    assert _ids(session, "米饭 空调") == {fid}


def test_orm_writes_keep_the_tokens_and_reindex_repairs_bulk_writes(session: Session) -> None:
    site = Site(code="yst", name="机关一食堂")
    session.add(site)
    session.flush()
    fb = Feedback(
        reference="FK20261010-9001",
        sender="o_x",
        service_date=date(2026, 10, 10),
        comment="鱼有点腥",
        site_id=site.id,
    )
    session.add(fb)
    session.flush()
    assert _ids(session, "鱼 一食堂") == {fb.id}
    fb.comment = "鱼很新鲜"
    session.flush()
    assert _ids(session, "新鲜") == {fb.id} and _ids(session, "腥") == set()
    # a bulk write that bypasses both: invisible until reindexed
    session.execute(text("UPDATE feedback SET comment = '馒头凉了' WHERE id = :id"), {"id": fb.id})
    assert _ids(session, "馒头") == set()
    assert ft.reindex(session) == 1
    assert _ids(session, "馒头") == {fb.id}
    assert ft.reindex(session, feedback_ids=[fb.id or 0]) == 0


def test_search_volumes_by_title_and_period(session: Session) -> None:
    a = _fb(session, "米饭硬")
    b = _fb(session, "米饭硬")
    c = _fb(session, "米饭硬")
    oct_ = _bind(session, [a], period="2026-10", no=1)
    nov = _bind(session, [b], period="2026-11", no=2)
    _bind(session, [c], period="2026-12", no=3, status="building")
    codes = lambda q: [v.archival_code for v in search_volumes(session, query=q)]  # noqa: E731
    assert codes("2026年10月 食堂") == [oct_.archival_code]
    assert codes("2026 食堂") == [nov.archival_code, oct_.archival_code]
    assert codes("11月") == [nov.archival_code]
    assert codes("会务") == []
    assert codes("午餐") == []  # a meal says nothing about volumes


def test_migration_backfills_existing_feedback(db_url: str, backend: str) -> None:
    """Downgrade past the search migration, write feedback without tokens, upgrade: it is found."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from core.db import make_engine
    from core.migrate import alembic_config

    cfg = alembic_config(db_url)
    ours = next(
        r for r in ScriptDirectory.from_config(cfg).walk_revisions() if hasattr(r.module, "FTS_TABLE")
    )
    assert isinstance(ours.down_revision, str)
    command.downgrade(cfg, ours.down_revision)
    eng = make_engine(db_url)
    try:
        with eng.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO feedback (reference, channel, source, sender, service_date, comment, topics, "
                    "status, misuse, created_at, updated_at) VALUES ('FK20261001-0001', 'canteen', 'mp', 'o', "
                    "'2026-10-01', '排队太久', '', 'new', false, '2026-10-01 04:00:00', '2026-10-01 04:00:00')"
                )
            )
        command.upgrade(cfg, "head")
        with Session(eng) as s:
            assert len(_ids(s, "排队")) == len(_ids(s, "排队 2026年10月")) == 1
    finally:
        eng.dispose()


# --- the index agrees with LIKE --------------------------------------------------------------------------

CJK = "米饭空调咸太好"
comments = st.text(alphabet=CJK + "ab13A" + " ，。\n", max_size=14)
queries = st.text(alphabet=CJK + "ab13", min_size=1, max_size=4)
DAYS = [date(2025, 12, 31), date(2026, 8, 31), date(2026, 9, 1), date(2026, 10, 15), date(2026, 10, 16)]


def _like(s: Session, q: str, *, archived_only: bool) -> list[int]:
    """The reference: a LIKE scan, newest service date first, then by reference."""
    archived = f"AND f.volume_id IN ({ARCHIVED_VOLUMES})" if archived_only else ""
    rows = s.execute(
        text(
            f"SELECT f.id FROM feedback f WHERE lower(f.comment) LIKE :p {archived} "
            "ORDER BY f.service_date DESC, f.reference"
        ),
        {"p": f"%{q}%"},
    )
    return [r[0] for r in rows]


def _pages(s: Session, q: str, *, archived_only: bool, size: int = 3) -> list[int]:
    """Every hit, page by page."""
    out: list[int] = []
    while True:
        result = search(s, query=q, archived_only=archived_only, limit=size, offset=len(out))
        out += [h.feedback_id for h in result.hits]
        if not result.total_exact:  # a lower bound, never below what was shown: more pages follow
            assert len(out) <= result.total and len(result.hits) == size, (q, result.total, out)
        if len(result.hits) < size:
            assert result.total_exact and result.total == len(out), (q, result.total, out)
            return out


@pytest.fixture(params=["direct", "by_month", "capped"])
def paging(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The ways of fetching a page: sorting every match at once, or walking month by month (SQLite: when
    there are many matches; PostgreSQL: the newest months, then the rest at once, or every month one by
    one); and totals capped low, so that most are a lower bound."""
    if request.param == "by_month":
        monkeypatch.setattr(sq, "DIRECT_MAX", 0)
        monkeypatch.setattr(sp.PostgresSearch, "WALK", 1000)
    if request.param == "capped":
        monkeypatch.setattr(ss, "TOTAL_CAP", 2)
        monkeypatch.setattr(sp.PostgresSearch, "WALK", 1)
    return str(request.param)


def test_search_equals_a_like_scan(session: Session, paging: str) -> None:
    volumes = iter(range(1, 10_000))

    @settings(
        max_examples=int(os.environ.get("SEARCH_EXAMPLES", "30")),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        rows=st.lists(
            st.tuples(comments, st.sampled_from(DAYS), st.sampled_from([None, None, "sealed", "building"])),
            min_size=1,
            max_size=12,
        ),
        qs=st.lists(queries, min_size=1, max_size=4),
        edits=st.lists(st.tuples(st.integers(0, 11), comments), max_size=4),
    )
    def check(rows: list[tuple[str, date, str | None]], qs: list[str], edits: list[tuple[int, str]]) -> None:
        ids = [_fb(session, text_, day=day) for text_, day, _ in rows]
        for status in ("sealed", "building"):
            bound = [fid for fid, (_, _, st_) in zip(ids, rows, strict=True) if st_ == status]
            if bound:
                _bind(session, bound, status=status, no=next(volumes))

        def agree() -> None:
            for q in qs:
                for archived_only in (False, True):
                    assert _pages(session, q, archived_only=archived_only) == _like(
                        session, q, archived_only=archived_only
                    ), (q, archived_only)

        agree()
        for i, new in edits:
            k = i % len(ids)
            row = Store(session).get_feedback(ids[k])
            assert row is not None
            if row.volume_id is None:
                service.add_to_feedback(Store(session), feedback=row, comment=new, actor="o_test")
            else:  # archived feedback is read-only for the service; a repair by hand keeps the tokens
                session.execute(
                    text("UPDATE feedback SET comment = :c, search_tokens = :t WHERE id = :id"),
                    {"c": new, "t": search_tokens(new, service_date=rows[k][1], meal="lunch"), "id": ids[k]},
                )
        agree()
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("INSERT INTO feedback_fts(feedback_fts) VALUES ('integrity-check')"))
        for table in ("volume_item", "feedback_event", "feedback", "volume"):
            session.execute(text(f"DELETE FROM {table}"))
        assert _ids(session, "米") == set()
        if session.get_bind().dialect.name == "sqlite":  # the delete trigger emptied the index
            months = " OR ".join(f'"{ft.month_token(d.year, d.month)}"' for d in DAYS)
            left = session.execute(
                text("SELECT count(*) FROM feedback_fts WHERE feedback_fts MATCH :q"),
                {"q": f'{months} OR "{ft.OPEN}"'},
            )
            assert left.scalar_one() == 0

    check()


@pytest.mark.parametrize("q", ["米饭", "咸", "好米饭", "ab"])
def test_like_reference_sanity(session: Session, q: str) -> None:
    fid = _fb(session, "好米饭，ab很咸")
    assert _like(session, q, archived_only=False) == [fid] == list(_ids(session, q))


def test_the_fts_triggers_exist_at_head(session: Session) -> None:
    """A later migration that recreates feedback on SQLite (batch move-and-copy) drops them: it must restore
    them (see migration 0004) and call rebuild_fts."""
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite only")
    names = set(session.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
    assert {"feedback_fts_insert", "feedback_fts_update", "feedback_fts_delete"} <= names


def test_rebuild_fts_restores_the_index(session: Session) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite only")
    a = _fb(session, "米饭硬")
    b = _fb(session, "米饭软")
    _bind(session, [a])
    session.execute(text("INSERT INTO feedback_fts(feedback_fts) VALUES ('delete-all')"))
    assert _ids(session, "米饭") == set()
    ft.rebuild_fts(session)
    assert _ids(session, "米饭") == {a, b}
    assert _ids(session, "米饭", archived_only=True) == {a}


def test_archived_by_code_finds_archived_volumes_and_their_items_only(session: Session) -> None:
    from search.service import archived_by_code

    sealed = _bind(session, [_fb(session, "米饭硬"), _fb(session, "米饭软")], no=1)
    building = _bind(session, [_fb(session, "米饭凉")], status="building", no=2)
    found = archived_by_code(session, code=sealed.archival_code)
    assert found is not None and found[0].id == sealed.id and found[1] is None
    item = archived_by_code(session, code=f"{sealed.archival_code}/0002")
    assert item is not None and item[0].id == sealed.id and item[1] is not None and item[1].seq == 2
    assert archived_by_code(session, code=building.archival_code) is None
    assert archived_by_code(session, code=f"{building.archival_code}/0001") is None
    assert archived_by_code(session, code="J001-WS·2026-D10-CYF-9999") is None
