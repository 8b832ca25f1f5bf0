"""Compile benchmark: items/s and peak RSS of compiling 10k and 100k feedback into one volume, beside a
bare openpyxl write-only baseline writing the same rows and columns (卷内目录 + 明细) in the same run.

Every measurement runs in its own process (so peak RSS is its own). Compile time covers everything a
real compile does: plan (numbering, binding), the streamed workbook, digests, the catalogue XML, the
bag (in its child process) and the seal. The data is inserted beforehand and not timed.

Reported apart: the workbook (the whole compile less the PDF/A copy, whose call is timed inside the compile
process) against the baseline, the PDF copy's cost per item, and the whole compile; peak RSS before the PDF
and for the whole compile, and their growth from the smallest size to the largest.

    python -m bench.compile [--sizes 10000 100000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMMENTS = [
    "红烧肉偏咸，希望改进",
    "米饭有点硬",
    "汤很鲜美，服务热情",
    "排队时间太长了",
    "青菜新鲜",
    "馒头凉了",
    "餐具不够干净",
]


def _fill(url: str, n: int) -> None:
    """n closed feedbacks in October 2026, inserted in bulk (not timed)."""
    from sqlalchemy import insert

    from core.db import make_engine, unit_of_work
    from core.migrate import upgrade
    from feedback.models import Feedback, Site

    upgrade(url)
    engine = make_engine(url)
    start = datetime(2026, 10, 1, 4, 0, tzinfo=UTC)
    with unit_of_work(engine) as s:
        s.add(Site(code="yst", name="机关一食堂"))
        s.flush()
        rows = []
        for i in range(n):
            at = start + timedelta(seconds=i * 25)
            day = date(2026, 10, 1 + min(27, i * 28 // n))
            rows.append(
                {
                    "reference": f"FK{day:%Y%m%d}-{i:06d}",
                    "channel": "canteen",
                    "source": "bench",
                    "sender": f"o_{i % 3000}",
                    "site_id": 1,
                    "table_no": None,
                    "meeting_id": None,
                    "meal": ("breakfast", "lunch", "dinner")[i % 3],
                    "service_date": day,
                    "score": 1 + i % 5,
                    "comment": COMMENTS[i % len(COMMENTS)] + f" #{i}",
                    "topics": "",
                    "status": "closed",
                    "misuse": False,
                    "volume_id": None,
                    "created_at": at,
                    "updated_at": at,
                }
            )
            if len(rows) == 5000:
                s.execute(insert(Feedback), rows)
                rows = []
        if rows:
            s.execute(insert(Feedback), rows)
    engine.dispose()


def _compile(url: str, data_dir: str, n: int) -> dict[str, float]:
    import exports.build
    from core.db import make_engine
    from core.settings import Settings
    from exports.seal import compile_locked

    settings = Settings(_env_file=None, database_url=url, data_dir=Path(data_dir), volume_max_items=n)  # type: ignore[call-arg]
    engine = make_engine(url)
    pdf = {"seconds": 0.0, "rss_before": 0.0}
    write_pdf_copy = exports.build.write_pdf_copy

    def timed_pdf(*args: Any, **kwargs: Any) -> int:  # the PDF copy's share, timed apart
        pdf["rss_before"] = _peak_mb()
        t = time.perf_counter()
        try:
            return write_pdf_copy(*args, **kwargs)
        finally:
            pdf["seconds"] += time.perf_counter() - t

    exports.build.write_pdf_copy = timed_pdf
    t0 = time.perf_counter()
    result = compile_locked(engine, settings=settings, period="2026-10")
    seconds = time.perf_counter() - t0
    assert result.items == n, result
    return {
        "seconds": seconds,
        "pdf_seconds": pdf["seconds"],
        "items": n,
        "rss_mb": _peak_mb(),
        "rss_before_pdf_mb": pdf["rss_before"],
    }


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _baseline(out: str, n: int) -> dict[str, float]:
    """openpyxl write-only, no styles, no database: the same two sheets' rows and columns."""
    from openpyxl import Workbook

    t0 = time.perf_counter()
    wb = Workbook(write_only=True)
    cat, det = wb.create_sheet("卷内目录"), wb.create_sheet("明细")
    cat.append(["序号", "档号", "文号", "责任者", "题名", "日期", "密级", "页数/条目数", "备注"])
    det.append(["h"] * 15)
    code = "J001-WS·2026-D10-CYF-0001"
    for i in range(1, n + 1):
        comment = COMMENTS[i % len(COMMENTS)] + f" #{i}"
        cat.append(
            [
                i,
                f"{code}/{i:04d}",
                f"FK20261001-{i:06d}",
                "机关一食堂",
                f"机关一食堂午餐就餐评价（4分）：{comment}",
                "20261001",
                "",
                1,
                "",
            ]
        )
        det.append(
            [
                i,
                f"{code}/{i:04d}",
                "2026-10-01 12:00",
                "食堂",
                "用户0D91779A",
                "机关一食堂 · 午餐",
                "",
                1 + i % 5,
                comment,
                "",
                "已办结",
                "",
                "",
                "",
                "0e8ef9f7f97a26e6a3798342d76cc4a1e38625e12e91faead4a26c07f96d32ed",
            ]
        )
    wb.save(out)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "items": n,
        "rss_mb": _peak_mb(),
    }


def _child(kind: str, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "compile":
            url = f"sqlite:///{tmp}/bench.db"
            subprocess.run(
                [sys.executable, "-m", "bench.compile", "--_fill", url, str(n)], check=True, cwd=ROOT
            )
            cmd = [sys.executable, "-m", "bench.compile", "--_compile", url, f"{tmp}/var", str(n)]
        else:
            cmd = [sys.executable, "-m", "bench.compile", "--_baseline", f"{tmp}/base.xlsx", str(n)]
        out = subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("--_"):
        mode, *rest = sys.argv[1:]
        if mode == "--_fill":
            _fill(rest[0], int(rest[1]))
            return
        fn = {
            "--_compile": lambda: _compile(rest[0], rest[1], int(rest[2])),
            "--_baseline": lambda: _baseline(rest[0], int(rest[1])),
        }
        print(json.dumps(fn[mode]()))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; medians are printed")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        comp, base = [], []
        for _ in range(args.repeat):  # alternated, so that a busy spell of the machine slows both alike
            comp.append(_child("compile", n))
            base.append(_child("baseline", n))
            print(f"{n}: compile {comp[-1]}, baseline {base[-1]}", file=sys.stderr, flush=True)
        med = statistics.median
        rows.append(
            {
                "n": n,
                "book": med(n / (r["seconds"] - r["pdf_seconds"]) for r in comp),
                "base": med(n / r["seconds"] for r in base),
                "whole": med(n / r["seconds"] for r in comp),
                "pdf_us": med(r["pdf_seconds"] / n * 1e6 for r in comp),
                "rss_book": med(r["rss_before_pdf_mb"] for r in comp),
                "rss": med(r["rss_mb"] for r in comp),
                "rss_base": med(r["rss_mb"] for r in base),
            }
        )
    print(f"\ncompile benchmark (SQLite, one volume per size, median of {args.repeat})")
    print("workbook = the compile without the PDF copy (plan, workbook, catalogue XML, digests, bag, seal)")
    print(
        f"{'items':>8} {'workbook/s':>11} {'openpyxl/s':>11} {'ratio':>6} {'PDF µs/item':>12}"
        f" {'PDF items/s':>12} {'whole/s':>8} {'RSS wb MB':>10} {'RSS MB':>7} {'RSS openpyxl':>13}"
    )
    for r in rows:
        pdf_rate = 1e6 / r["pdf_us"] if r["pdf_us"] else 0.0
        print(
            f"{r['n']:>8} {r['book']:>11.0f} {r['base']:>11.0f} {r['book'] / r['base']:>6.2f}"
            f" {r['pdf_us']:>12.0f} {pdf_rate:>12.0f} {r['whole']:>8.0f} {r['rss_book']:>10.1f}"
            f" {r['rss']:>7.1f} {r['rss_base']:>13.1f}"
        )
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        print(
            f"peak RSS {b['n']} / {a['n']}: whole compile {b['rss'] / a['rss']:.2f},"
            f" before the PDF {b['rss_book'] / a['rss_book']:.2f}"
        )


if __name__ == "__main__":
    main()
