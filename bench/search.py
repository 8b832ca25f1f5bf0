"""查档 search benchmark: p50/p95 latency of search.service.search over N archived feedback, on SQLite and on
PostgreSQL, beside a baseline measured in the same run: the same queries with every term as a
`LIKE '%term%'` scan (of the comment, site name and meeting title) instead of the index.

The data: N archived feedback (plus 3% not yet archived) over 24 months, realistic Chinese comments drawn
from a vocabulary, six canteens and a few hundred meetings, bound to volumes of at most 2000 items
(sealed or received; the newest month's still building). Inserted in bulk (executemany on SQLite, COPY
on PostgreSQL), not timed. Each of ~50 queries (1–3 terms, some with date / meal / site filters) runs
once to warm up, then `--repeat` times; the baseline runs once per query. Every query's first page must
equal its baseline's, and its total too up to the cap (search.service.TOTAL_CAP; beyond it the baseline
must find more): the benchmark is also a check at scale.

    python -m bench.search [--sizes 100000 1000000] [--repeat 5] [--backends sqlite postgresql]

PostgreSQL: HOUQIN_BENCH_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/test) is where a
database of its own is created and dropped.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

SEED = 20261124
MONTHS = [(2025 + i // 12, 1 + i % 12) for i in range(24)]
VOLUME_ITEMS = 2000
SITES = [
    ("yst", "机关一食堂"),
    ("est", "机关二食堂"),
    ("sst", "三号楼食堂"),
    ("bgl", "办公楼餐厅"),
    ("jgy", "机关幼儿园食堂"),
    ("ylc", "综合楼员工餐厅"),
]
DISHES = (  # noqa: SIM905
    "红烧肉 米饭 青菜 馒头 面条 鱼香肉丝 宫保鸡丁 番茄炒蛋 麻婆豆腐 糖醋排骨 饺子 包子 稀饭 油条 鸡蛋 紫菜汤 "
    "酸菜鱼 土豆丝 回锅肉 炸酱面 牛肉面 馄饨 豆浆 小米粥 花卷 烧茄子 清蒸鱼 卤鸡腿 凉拌黄瓜 西兰花 玉米 "
    "红薯 蒸蛋 咖喱鸡 木须肉 水饺 酸辣粉 米粉 炒饭 水果 冬瓜汤 白菜 豆芽 蒜苔肉丝 可乐鸡翅 黄焖鸡 狮子头 "
    "啤酒鸭 红烧带鱼 干煸豆角 地三鲜 手撕包菜 香菇青菜 肉末茄子 京酱肉丝 鱼丸汤 绿豆汤 南瓜粥 烧卖 "
    "葱油饼 煎饺 粽子 汤圆 酸奶 烤鸭 梅菜扣肉 剁椒鱼头 小炒肉 红烧牛肉 土豆烧鸡"
).split()
DISH_WEIGHTS = [1 / (k + 3) ** 0.9 for k in range(len(DISHES))]  # Zipf-like: the top dish ~5% of comments
TASTES = (  # noqa: SIM905
    "偏咸 太淡 有点硬 凉了 很好吃 不新鲜 油太多 分量少 太辣 味道不错 有点腥 没熟 太甜 火候正好 很香 "
    "有点糊 偏油 口味重 比较清淡 太软了 咸了点 分量足 不够热 有异味 太酸"
).split()
SERVICE = (  # noqa: SIM905
    "排队时间太长 窗口开得太少 服务态度很好 餐具不干净 空调太冷 桌子油腻 地面湿滑 刷卡机故障 菜品种类少 "
    "价格偏贵 打菜阿姨手抖 卫生状况良好 环境整洁 座位不够 开饭时间太晚 剩菜太多 没有公筷 托盘有水渍 "
    "餐厅噪音大 WiFi信号差 电视声音太大 洗手池没有洗手液 筷子有毛刺 碗有缺口 发现头发 菜里有虫 "
    "垃圾桶满了 苍蝇多 灯光太暗 门口积水 收银员态度差 扫码支付不了 菜单不更新 夜宵品种少"
).split()
CLOSERS = (  # noqa: SIM905
    "辛苦了 感谢师傅 希望保持 建议改进 希望尽快整改 点赞 谢谢 建议增加品种 下次再来 请重视 "
    "希望多做几次 建议公示菜谱 希望增加素菜 建议延长供应时间 已经反映多次"
).split()
MEETING_WORDS = (  # noqa: SIM905
    "会议室空调太热 茶水及时 投影仪不清楚 话筒没声音 座位牌摆错 会议材料齐全 接待人员热情 签到很顺利 "
    "停车位不够 指引标识清楚 茶歇丰富 会场布置整齐 音响有杂音 矿泉水不够 WiFi连不上 会议室太小 "
    "横幅有错别字 会议室有异味 桌签缺少 翻页笔没电"
).split()
PUNCT = ["，", "。", "！", "；", " ", ""]

QUERIES = [
    "米饭", "红烧肉", "咸", "空调", "排队", "餐具 不干净", "馒头 凉", "2026年10月 米饭", "午餐 排队",
    "晚餐 面条", "机关一食堂 红烧肉", "2025 空调", "投影仪", "话筒 没声音", "鱼 腥", "油", "价格",
    "刷卡", "菜品 种类", "服务态度", "辛苦", "地面 湿滑", "11月 饺子", "早餐 油条", "包子 2026", "宫保鸡丁",
    "番茄炒蛋 咸", "wifi", "茶水", "酸菜鱼 太辣", "2026年3月 午餐", "二食堂 排队 太长", "土豆丝 硬",
    "豆浆 凉", "小米粥", "公筷", "洗手液", "会议室 太热", "停车位", "火锅", "牛排", "异味", "2025年12月 水饺",
    "卫生", "头发", "糊", "幼儿园", "清蒸鱼 2026", "托盘 水渍", "晚饭 咖喱鸡 好吃",
]  # fmt: skip


def _comment(rng: random.Random, meeting: bool) -> str:
    parts = []
    for _ in range(rng.choice((1, 1, 2, 2, 2, 3))):
        roll = rng.random()
        if meeting:
            parts.append(rng.choice(MEETING_WORDS))
        elif roll < 0.55:
            parts.append(rng.choices(DISHES, DISH_WEIGHTS)[0] + rng.choice(TASTES))
        elif roll < 0.85:
            parts.append(rng.choice(SERVICE))
        else:
            parts.append(rng.choice(CLOSERS))
    out = parts[0]
    for p in parts[1:]:
        out += rng.choice(PUNCT) + p
    return out + rng.choice(("", "。", "！"))


Row = dict[str, Any]


@dataclass
class Data:
    """The rows to load, each a dict keyed by column name."""

    sites: list[Row]
    meetings: list[Row]
    volumes: list[Row]
    items: list[Row]
    feedback: list[Row]


LOADED = datetime(2025, 1, 1, tzinfo=UTC)  # created_at of the sites', meetings' and volumes' rows


def _generate(n: int) -> Data:
    """n archived feedback plus 3% in the newest month, still in a building volume or not bound yet."""
    from feedback.tokens import search_tokens

    rng = random.Random(SEED)
    sites = [
        {"id": i, "code": c, "name": name, "kind": "canteen", "active": True}
        for i, (c, name) in enumerate(SITES, 1)
    ]
    meetings: list[Row] = []
    for i in range(1, 301):
        y, m = MONTHS[(i - 1) % 24]
        held = date(y, m, 1 + i % 27)
        title = f"{rng.choice(('年度', '季度', '专题', '工作'))}会议{i}号"
        meetings.append(
            {"id": i, "code": f"HY{y}{i:04d}", "title": title, "starts_on": held, "ends_on": held,
             "venue": "", "organiser": "", "created_at": LOADED}
        )  # fmt: skip
    total = n + n * 3 // 100
    per_month = total // 24
    feedback: list[Row] = []
    by_volume: dict[tuple[int, int, str], list[int]] = {}
    seq_of_day: dict[date, int] = {}
    meals = ("breakfast", "lunch", "dinner")
    for i in range(1, total + 1):
        y, m = MONTHS[min((i - 1) // per_month, 23)]
        meeting = rng.random() < 0.08
        while True:
            day = date(y, m, rng.randint(1, 28))
            if day.weekday() < 5:
                break
        seq_of_day[day] = seq_of_day.get(day, 0) + 1
        site = None if meeting else rng.randint(1, len(SITES))
        mtg = rng.randint(1, len(meetings)) if meeting else None
        comment = _comment(rng, meeting)
        meal = None if meeting else rng.choice(meals)
        names = (SITES[site - 1][1] if site else "", meetings[mtg - 1]["title"] if mtg else "")
        at = datetime(day.year, day.month, day.day, 4, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 40000))
        feedback.append(
            {
                "id": i,
                "reference": f"FK{day:%Y%m%d}-{seq_of_day[day]:04d}",
                "channel": "meeting" if meeting else "canteen",
                "sender": f"o_{rng.randint(1, 5000)}",
                "site_id": site,
                "meeting_id": mtg,
                "meal": meal,
                "service_date": day,
                "score": rng.choice((1, 2, 3, 4, 4, 5, 5, 5)),
                "comment": comment,
                "search_tokens": search_tokens(
                    comment, *names, service_date=day, meal=meal, site_id=site, meeting_id=mtg
                ),
                "created_at": at,
                "updated_at": at,
                "source": "bench",
                "table_no": None,
                "topics": "",
                "status": "closed",
                "misuse": False,
                "volume_id": None,
            }
        )
        by_volume.setdefault((y, m, "meeting" if meeting else "canteen"), []).append(i)
    volumes: list[Row] = []
    items: list[Row] = []
    item_id = 0
    for (y, m, channel), ids in sorted(by_volume.items()):
        newest = (y, m) == MONTHS[-1]
        if newest:
            ids = ids[: len(ids) // 2]  # half of the newest month is not bound at all
        problem = "CYF" if channel == "canteen" else "HWF"
        for part, start in enumerate(range(0, len(ids), VOLUME_ITEMS), 1):
            chunk = ids[start : start + VOLUME_ITEMS]
            vid = len(volumes) + 1
            code = f"J001-WS·{y}-D10-{problem}-{vid:04d}"
            title = f"示例市机关事务管理局{y}年{m}月{'机关食堂就餐反馈' if channel == 'canteen' else '会务接待服务反馈'}"
            volumes.append(
                {"id": vid, "archival_code": code, "scope": f"J001-WS·{y}-D10-{problem}", "volume_no": vid,
                 "period": f"{y}-{m:02d}", "channel": channel, "retention": "D10", "problem_code": problem,
                 "part": part, "title": title + (f"（第{part}卷）" if len(ids) > VOLUME_ITEMS else ""),
                 "item_count": len(chunk), "date_from": date(2025, 1, 1), "date_to": date(2025, 1, 31),
                 "status": "building" if newest else ("received" if vid % 3 else "sealed"),
                 "file_name": "x.xlsx", "open_items": "", "notes": "[]", "compiler": "bench", "generator": "bench",
                 "created_at": LOADED, "classification": ""}
            )  # fmt: skip
            for s, fid in enumerate(chunk, 1):
                item_id += 1
                items.append(
                    {
                        "id": item_id,
                        "volume_id": vid,
                        "seq": s,
                        "item_code": f"{code}/{s:04d}",
                        "feedback_id": fid,
                    }
                )
                feedback[fid - 1]["volume_id"] = vid
    return Data(sites=sites, meetings=meetings, volumes=volumes, items=items, feedback=feedback)


def _tables(data: Data) -> list[tuple[str, list[str], list[Row]]]:
    """Each table to fill, in the order of its foreign keys: its name, the columns the rows give (in the
    table's order, every one a column of the SQLModel table), and the rows."""
    from sqlalchemy import Table

    from exports.models import Volume, VolumeItem
    from feedback.models import Feedback, Meeting, Site

    out = []
    for model, rows in (
        (Site, data.sites),
        (Meeting, data.meetings),
        (Volume, data.volumes),
        (Feedback, data.feedback),
        (VolumeItem, data.items),
    ):
        table: Table = model.__table__  # type: ignore[union-attr]
        name = table.name
        unknown = set(rows[0]) - set(table.c.keys())
        assert not unknown, (name, unknown)
        out.append((name, [c.name for c in table.columns if c.name in rows[0]], rows))
    return out


def _sqlite_value(v: Any) -> Any:
    """A value as SQLAlchemy stores it on SQLite (UTC timestamps without the offset)."""
    if isinstance(v, datetime):
        return v.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(v, date):
        return v.isoformat()
    return v


def _load_sqlite(path: Path, data: Data) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    for table, cols, rows in _tables(data):
        stmt = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
        for start in range(0, len(rows), 50_000):
            db.executemany(
                stmt, [{c: _sqlite_value(r[c]) for c in cols} for r in rows[start : start + 50_000]]
            )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("INSERT INTO feedback_fts(feedback_fts) VALUES ('optimize')")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def _load_pg(url: str, data: Data) -> None:
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("DROP INDEX ix_feedback_search_vector")
        with conn.transaction():
            cur = conn.cursor()
            tables = _tables(data)
            for table, cols, rows in tables:
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row([r[c] for c in cols])
            for table, _cols, _rows in tables:
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
        conn.execute("CREATE INDEX ix_feedback_search_vector ON feedback USING gin (search_vector)")
        conn.execute("VACUUM ANALYZE")


def _baseline(session: Any, query: str, limit: int = 5) -> tuple[int, list[int]]:
    """The same query without the index: every term a LIKE scan of the comment, site name and meeting title,
    the filters on their columns."""
    from sqlalchemy import text

    from search.service import parse_for

    q = parse_for(session, query)
    pg = session.get_bind().dialect.name == "postgresql"
    if pg:
        session.execute(text("SET LOCAL jit = off"))
    params: dict[str, Any] = {}
    conds = ["f.volume_id IN (SELECT id FROM volume WHERE status IN ('sealed', 'received'))"]
    for i, term in enumerate(q.terms):
        params[f"t{i}"] = f"%{term}%"
        conds.append(
            f"(lower(f.comment) LIKE :t{i} OR lower(coalesce(s.name, '')) LIKE :t{i} "
            f"OR lower(coalesce(m.title, '')) LIKE :t{i})"
        )
    windows = []
    for i, (y, mo) in enumerate(q.periods()):
        if y is not None and mo is not None:
            start, end = date(y, mo, 1), date(y + mo // 12, mo % 12 + 1, 1)
        elif y is not None:
            start, end = date(y, 1, 1), date(y + 1, 1, 1)
        else:
            month = (
                "EXTRACT(MONTH FROM f.service_date)"
                if pg
                else "CAST(substr(f.service_date, 6, 2) AS INTEGER)"
            )
            windows.append(f"{month} = {mo}")
            continue
        params[f"a{i}"], params[f"b{i}"] = (start, end) if pg else (start.isoformat(), end.isoformat())
        windows.append(f"(f.service_date >= :a{i} AND f.service_date < :b{i})")
    if windows:
        conds.append("(" + " OR ".join(windows) + ")")
    if q.meals:
        conds.append("f.meal IN (" + ", ".join(f"'{meal}'" for meal in sorted(q.meals)) + ")")
    places = [f"f.site_id = {i}" for i in q.site_ids] + [f"f.meeting_id = {i}" for i in q.meeting_ids]
    if places:
        conds.append("(" + " OR ".join(places) + ")")
    where = " AND ".join(conds)
    base = "FROM feedback f LEFT JOIN site s ON s.id = f.site_id LEFT JOIN meeting m ON m.id = f.meeting_id"
    total = int(session.execute(text(f"SELECT count(*) {base} WHERE {where}"), params).scalar_one())
    ids = list(
        session.execute(
            text(f"SELECT f.id {base} WHERE {where} ORDER BY f.service_date DESC, f.reference LIMIT {limit}"),
            params,
        ).scalars()
    )
    return total, ids


@dataclass
class Run:
    backend: str
    n: int
    load_s: float
    search_ms: list[float]
    baseline_ms: list[float]
    worst: tuple[float, str]
    mismatches: list[str]
    hits_median: float  # of the LIKE totals
    capped: int  # queries whose total was beyond the cap (a lower bound)
    per_query: list[tuple[str, int, float, float]]  # query, LIKE total, median ms, baseline ms


def _measure(backend: str, url: str, n: int, load_s: float, repeat: int) -> Run:
    from sqlmodel import Session

    from core.db import make_engine
    from search.service import search, search_volumes

    engine = make_engine(url)
    search_ms: list[float] = []
    baseline_ms: list[float] = []
    mismatches: list[str] = []
    totals: list[int] = []
    worst = (0.0, "")
    capped = 0
    detail: list[tuple[str, int, float, float]] = []
    for q in QUERIES:  # warm-up
        with Session(engine) as s:
            search(s, query=q, archived_only=True)
    for q in QUERIES:
        per_query = []
        for _ in range(repeat):
            with Session(engine) as s:
                t0 = time.perf_counter()
                result = search(s, query=q, archived_only=True, limit=5)
                search_volumes(s, query=q)
                per_query.append((time.perf_counter() - t0) * 1000)
        search_ms += per_query
        worst = max(worst, (max(per_query), q))
        with Session(engine) as s:
            t0 = time.perf_counter()
            total, ids = _baseline(s, q)
            baseline_ms.append((time.perf_counter() - t0) * 1000)
        totals.append(total)
        capped += not result.total_exact
        detail.append((q, total, statistics.median(per_query), baseline_ms[-1]))
        # a total beyond the cap is a lower bound: LIKE must find more
        agrees = total == result.total if result.total_exact else total > result.total
        if not agrees or ids != [h.feedback_id for h in result.hits]:
            shown = f"{result.total}{'' if result.total_exact else '+'}"
            mismatches.append(f"{q}: index {shown} vs LIKE {total}")
    engine.dispose()
    return Run(
        backend,
        n,
        load_s,
        search_ms,
        baseline_ms,
        worst,
        mismatches,
        statistics.median(totals),
        capped,
        detail,
    )


def _p(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


@dataclass
class _Db:
    url: str
    drop: Any


def _databases(backend: str, tmp: str, n: int) -> Iterator[_Db]:
    if backend == "sqlite":
        path = Path(tmp) / f"search-{n}.db"
        yield _Db(f"sqlite:///{path}", lambda: path.unlink(missing_ok=True))
        return
    import psycopg

    admin = os.environ.get("HOUQIN_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    conninfo = admin.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"houqin_bench_search_{os.getpid()}_{n}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    url = admin.rsplit("/", 1)[0] + f"/{name}"
    if not url.startswith("postgresql+psycopg://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield _Db(url, drop)
    finally:
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each query")
    parser.add_argument("--detail", action="store_true", help="also print every query's total and time")
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument(
        "--database-url", help="measure this (already filled) database instead of generating one"
    )
    args = parser.parse_args()

    from core.migrate import upgrade

    runs: list[Run] = []
    if args.database_url:
        from sqlalchemy import text

        from core.db import make_engine

        engine = make_engine(args.database_url)
        with engine.connect() as conn:
            n = int(conn.execute(text("SELECT count(*) FROM feedback")).scalar_one())
        engine.dispose()
        backend = "postgresql" if args.database_url.startswith("postgresql") else "sqlite"
        runs.append(_measure(backend, args.database_url, n, 0.0, args.repeat))
        _report(runs, args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            t0 = time.perf_counter()
            data = _generate(n)
            gen_s = time.perf_counter() - t0
            print(f"generated {len(data.feedback):,} feedback ({n:,} archived) in {gen_s:.1f} s", flush=True)
            for backend in args.backends:
                for db in _databases(backend, tmp, n):
                    upgrade(db.url)
                    t0 = time.perf_counter()
                    if backend == "sqlite":
                        _load_sqlite(Path(db.url.removeprefix("sqlite:///")), data)
                    else:
                        _load_pg(db.url, data)
                    load_s = time.perf_counter() - t0
                    print(f"  {backend}: loaded in {load_s:.1f} s; querying", flush=True)
                    runs.append(_measure(backend, db.url, n, load_s, args.repeat))
                    if backend == "sqlite":
                        db.drop()
            del data
    _report(runs, args)


def _report(runs: list[Run], args: argparse.Namespace) -> None:
    print()
    print(
        f"{len(QUERIES)} queries × {args.repeat} runs (search + volume titles), archived only, first page of 5"
    )
    header = f"{'backend':<11}{'N':>11}{'load s':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
    header += f"{'LIKE p50':>10}{'LIKE p95':>10}{'speed-up p50':>14}  worst query"
    print(header)
    print("-" * len(header))
    for r in runs:
        p50, base50 = _p(r.search_ms, 50), _p(r.baseline_ms, 50)
        print(
            f"{r.backend:<11}{r.n:>11,}{r.load_s:>8.0f}{p50:>9.1f}{_p(r.search_ms, 95):>9.1f}{max(r.search_ms):>9.1f}"
            f"{base50:>10.0f}{_p(r.baseline_ms, 95):>10.0f}{base50 / p50:>13.0f}×  {r.worst[1]} ({r.worst[0]:.0f} ms)"
        )
    if args.detail:
        for r in runs:
            print(f"\n{r.backend} {r.n:,}: query, total, median ms, LIKE ms")
            for q, total, ms, base in sorted(r.per_query, key=lambda d: -d[2]):
                print(f"  {q:<16}{total:>9,}{ms:>9.1f}{base:>9.0f}")
    for r in runs:
        print(f"{r.backend} {r.n:,}: median total per query {r.hits_median:,.0f} ({r.capped} beyond the cap); "
              + ("totals and first pages agree with LIKE on every query" if not r.mismatches else
                 "MISMATCHES: " + "; ".join(r.mismatches)))  # fmt: skip


if __name__ == "__main__":
    main()
