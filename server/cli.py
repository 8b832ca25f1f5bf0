"""The `houqin` command line (Typer): serve, scheduler, db, meeting, site, demo, compile, verify, receive."""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import Session

from core.db import check_connection, make_engine, unit_of_work
from core.migrate import upgrade
from core.settings import ConfigError, Settings, get_settings

app = typer.Typer(help="houqin 后勤: WeChat feedback bot and archive desk.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
meeting_app = typer.Typer(help="Meetings (会务) and their QR codes.", no_args_is_help=True)
site_app = typer.Typer(help="Canteens and venues.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(meeting_app, name="meeting")
app.add_typer(site_app, name="site")
staff_app = typer.Typer(help="Staff roster (职工名册).", no_args_is_help=True)
register_app = typer.Typer(help="Access register (查阅登记簿).", no_args_is_help=True)
app.add_typer(staff_app, name="staff")
app.add_typer(register_app, name="register")
user_app = typer.Typer(help="Console accounts.", no_args_is_help=True)
token_app = typer.Typer(help="API bearer tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")


def _settings() -> Settings:
    try:
        return get_settings()
    except (ConfigError, ValueError) as exc:
        msg = str(exc).strip().splitlines()
        # pydantic wraps our ConfigError: show the line that says what to fix
        line = next((m for m in msg if "HOUQIN_" in m), msg[-1] if msg else "invalid configuration")
        typer.echo(f"configuration error: {line.strip()}", err=True)
        raise typer.Exit(2) from None


def _ready_engine(settings: Settings):  # type: ignore[no-untyped-def]
    engine = make_engine(settings.database_url)
    try:
        check_connection(engine)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return engine


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (creates the database on first use)."""
    settings = _settings()
    _ready_engine(settings)
    upgrade(settings.database_url)
    typer.echo("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (use PostgreSQL when > 1)")] = 1,
    migrate: Annotated[bool, typer.Option(help="Apply migrations first")] = True,
    scheduler: Annotated[
        bool, typer.Option(help="Run the scheduler in this process (only with one worker)")
    ] = True,
) -> None:
    """Run the web app (webhook, simulator, console, API) and the scheduler."""
    import uvicorn

    settings = _settings()
    engine = _ready_engine(settings)
    if migrate:
        upgrade(settings.database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from core.logs import setup_logging, uvicorn_log_config

    setup_logging()  # JSON lines; uvicorn_log_config() below does the same in every worker
    if workers > 1:
        _prometheus_multiprocess(settings.data_dir / "prometheus")
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    if settings.simulator_enabled:
        typer.echo(f"houqin is running: open http://{shown}:{port}/simulator to chat as a diner")
    typer.echo(f"API docs: http://{shown}:{port}/docs   database: {settings.database_url}")
    runner = None
    if workers > 1:
        # one scheduler per worker would run every job once per worker: it runs as its own process
        typer.echo("scheduler: not started with --workers > 1; run `houqin scheduler` as its own process")
    elif scheduler:
        from server.scheduler import start_in_thread

        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        runner = start_in_thread(engine, settings)
        # uvicorn re-raises the SIGTERM it caught after its graceful shutdown: make that an exception so
        # the scheduler below is stopped too, instead of the process dying on the spot
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    else:
        typer.echo("scheduler: off (--no-scheduler); run `houqin scheduler` for scheduled jobs")
    options = dict(
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        log_config=uvicorn_log_config(),
    )
    try:
        if workers > 1 and hasattr(socket, "SO_REUSEPORT"):
            from server import workers as multi

            multi.run(uvicorn.Config("server.asgi:app", **options))  # type: ignore[arg-type]
        else:
            uvicorn.run("server.asgi:app", **options)  # type: ignore[arg-type]
    finally:
        if runner is not None:
            thread, stop = runner
            stop.set()
            thread.join(timeout=60)


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _prometheus_multiprocess(default: Path) -> None:
    """Workers share their metrics through files (prometheus_client's multiprocess mode): point
    PROMETHEUS_MULTIPROC_DIR at a folder, unless set already, and clear what a previous run left there."""
    import os

    folder = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(default)))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)


@app.command("scheduler")
def scheduler_command() -> None:
    """Run the scheduler alone (volume compilation, fixity audits, outbox) until SIGTERM or Ctrl-C."""
    from server.scheduler import run_scheduler

    settings = _settings()
    engine = _ready_engine(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # APScheduler logs every 30-second outbox tick at INFO; houqin.scheduler says what matters
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        run_scheduler(engine, settings)
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("jobs")
def jobs_command(
    limit: Annotated[int, typer.Option(min=1, help="How many runs to show")] = 20,
) -> None:
    """List the latest scheduled job runs: job, period, status, started, finished, counts, error."""
    from core.clock import to_local
    from core.jobs import recent_runs

    settings = _settings()
    engine = _ready_engine(settings)
    runs = recent_runs(engine, limit=limit)
    if not runs:
        typer.echo("no job runs yet")
        return

    def when(dt: datetime | None) -> str:
        return to_local(dt, settings.tz).strftime("%Y-%m-%d %H:%M:%S") if dt else "-"

    for run in runs:
        error = (run.error or "").strip().splitlines()
        typer.echo(
            f"{run.job:<8} {run.period:<9} {run.status:<9} started {when(run.started_at)}  "
            f"finished {when(run.finished_at)}  counts {run.counts}"
            + (f"  error {error[0][:200]}" if error else "")
        )


@site_app.command("add")
def site_add(
    code: Annotated[str, typer.Argument(help="Short code used in QR scenes, e.g. yst")],
    name: Annotated[str, typer.Argument(help="Name shown to diners, e.g. 机关一食堂")],
    kind: Annotated[str, typer.Option(help="canteen or venue")] = "canteen",
) -> None:
    """Add a canteen or venue."""
    from feedback.models import Site

    settings = _settings()
    engine = _ready_engine(settings)
    with unit_of_work(engine) as session:
        session.add(Site(code=code, name=name, kind=kind))
    typer.echo(f"site {code} added; its table QR scene is canteen:{code}[:<table>]")


@meeting_app.command("add")
def meeting_add(
    code: Annotated[str, typer.Argument(help="Meeting code attendees type after 会议, e.g. HY2026A")],
    title: Annotated[str, typer.Option(help="会议名称")],
    starts: Annotated[str, typer.Option(help="First day, YYYY-MM-DD")],
    ends: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (default: the first day)")] = None,
    venue: Annotated[str, typer.Option(help="会场")] = "",
    organiser: Annotated[str, typer.Option(help="主办部门")] = "",
    poster: Annotated[str | None, typer.Option(help="Write the printable QR poster PNG here")] = None,
) -> None:
    """Add a meeting, get its parametric QR code from WeChat, and print a poster."""
    from feedback.meetings import add_meeting, issue_qr, render_poster

    settings = _settings()
    engine = _ready_engine(settings)
    try:
        first = date.fromisoformat(starts)
        last = date.fromisoformat(ends) if ends else first
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        with unit_of_work(engine) as session:
            meeting = add_meeting(
                session,
                code=code,
                title=title,
                starts_on=first,
                ends_on=last,
                venue=venue,
                organiser=organiser,
            )
            qr = issue_qr(session, meeting=meeting, settings=settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    out = render_poster(meeting=meeting, qr_content=qr, settings=settings, path=poster)
    typer.echo(f"meeting {meeting.code} added; QR scene meeting:{meeting.code}; poster: {out}")


@app.command()
def demo(
    count: Annotated[int, typer.Option(min=1, help="How many feedbacks to create")] = 400,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data")] = 2026,
    force: Annotated[
        bool, typer.Option("--force", help="Add demo data even when some is already there")
    ] = False,
    migrate: Annotated[bool, typer.Option(help="Apply migrations first")] = True,
    months: Annotated[
        int | None,
        typer.Option(
            min=1, max=120, help="Spread over this many months, written in bulk (no photos): for scale"
        ),
    ] = None,
) -> None:
    """Fill the database with a realistic month of demo feedback (演示数据) so a newcomer can look around."""
    from datetime import datetime

    from feedback.demo import demo_feedback_count, fill_demo

    settings = _settings()
    if settings.env == "production":
        typer.echo("error: demo data is not for a production database", err=True)
        raise typer.Exit(2)
    engine = _ready_engine(settings)
    if migrate:
        upgrade(settings.database_url)
    today = datetime.now(settings.tz).date()
    with unit_of_work(engine) as session:
        existing = demo_feedback_count(session)
        if existing and not force:
            typer.echo(
                f"数据库已有 {existing} 条演示反馈，未重复生成 / the database already has {existing} demo "
                "feedbacks: nothing added (use --force to add more)",
                err=True,
            )
            raise typer.Exit(1)
        if months is None:
            s = fill_demo(session, settings=settings, count=count, seed=seed, today=today)
            accounts = _demo_accounts(session)
    if months is not None:  # issue 13: a million in minutes, multi-row inserts per chunk
        _bulk_demo(engine, settings, count=count, months=months, seed=seed, today=today)
        return
    typer.echo(
        f"演示数据已生成 demo data: {s.sites} 个场所 sites, {s.meetings} 场会议 meetings, {s.feedbacks} 条反馈 "
        f"feedbacks, {s.photos} 张照片 photos ({s.first_day} – {s.last_day})"
    )
    if accounts:
        typer.echo(f"控制台演示账号 console demo accounts (password {DEMO_PASSWORD}): {', '.join(accounts)}")
    typer.echo("下一步 next: houqin serve，然后打开 then open http://localhost:8000/simulator")


from console.passwords import DEMO_PASSWORD  # noqa: E402 — one definition, refused in production


def _bulk_demo(engine: Any, settings: Settings, *, count: int, months: int, seed: int, today: Any) -> None:
    """`houqin demo --months M`: the bulk generator (feedback/bulkdemo.py), with the console accounts."""
    from datetime import datetime

    from feedback.bulkdemo import fill_bulk

    started = datetime.now()
    b = fill_bulk(engine, settings=settings, count=count, months=months, seed=seed, today=today)
    with unit_of_work(engine) as session:
        accounts = _demo_accounts(session)
    typer.echo(
        f"演示数据已生成 demo data (bulk): {b.feedbacks} 条反馈 feedbacks, {b.events} 条处理记录 events "
        f"({b.first_day} – {b.last_day}) in {(datetime.now() - started).total_seconds():.0f} s"
    )
    if accounts:
        typer.echo(f"控制台演示账号 console demo accounts (password {DEMO_PASSWORD}): {', '.join(accounts)}")


DEMO_ACCOUNTS = (
    ("admin", "admin", "系统管理员"),
    ("canteen", "canteen_manager", "李经理"),
    ("reception", "reception_manager", "赵主任"),
    ("archivist", "archivist", "王档案"),
)


def _demo_accounts(session: Session) -> list[str]:
    """One console account per role, when the database has none (development only)."""
    from sqlalchemy import select
    from sqlmodel import col

    from console.auth import create_user
    from console.models import ConsoleUser

    if session.execute(select(col(ConsoleUser.id))).first() is not None:
        return []
    for username, role, name in DEMO_ACCOUNTS:
        create_user(
            session, username=username, password=DEMO_PASSWORD, role=role, display_name=name, _demo=True
        )
    return [f"{u} ({r})" for u, r, _ in DEMO_ACCOUNTS]


# --- archives: compile, verify, receive, volumes (DESIGN §6–§7) ------------------------------------------


@app.command("compile")
def compile_command(
    period: Annotated[str, typer.Option(help="The month to compile, YYYY-MM")],
    channel: Annotated[str | None, typer.Option(help="canteen or meeting (default: both)")] = None,
) -> None:
    """Compile a month's closed feedback into sealed volumes (案卷) and their BagIt bags."""
    from exports.seal import compile_period

    settings = _settings()
    engine = _ready_engine(settings)
    if channel is not None and channel not in settings.channel_codes:
        typer.echo(
            f"error: channel must be one of {', '.join(settings.channel_codes)}, got {channel!r}", err=True
        )
        raise typer.Exit(2)
    try:
        result = compile_period(engine, settings=settings, period=period, channel=channel)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for code in result.volumes:
        typer.echo(f"已封卷 sealed: {code}")
    if not result.volumes:
        typer.echo(f"{period} 无新的已办结反馈可立卷 / nothing new to bind for {period}")
    typer.echo(
        f"{len(result.volumes)} 卷 volumes, {result.items} 条 items; 未办结未入卷 open items left out: {result.open_items}"
    )


@app.command("verify")
def verify_command(
    archival_code: Annotated[
        str | None, typer.Argument(help="档号 of one volume (default: every sealed volume)")
    ] = None,
    register: Annotated[
        bool, typer.Option("--register", help="Verify the access register (查阅登记簿) instead")
    ] = False,
    report_file: Annotated[
        Path | None,
        typer.Option("--report", help="Write the 四性检测 report (DA/T 70-2018) of the volume(s) as JSON"),
    ] = None,
) -> None:
    """Re-validate sealed volumes (bag, digests, seal, numbering, hash chain), or the access register; exit 1 on any problem."""
    from exports.fixity import FixityError, verify

    settings = _settings()
    engine = _ready_engine(settings)
    if register:
        _verify_register(engine)
        return
    try:
        report = verify(engine, settings=settings, archival_code=archival_code, agent=settings.fixity_agent)
    except FixityError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if report_file is not None:  # issue 14: one report for one volume, a list for several
        import json

        body = report.reports[0] if archival_code and report.reports else report.reports
        report_file.write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")
    for code, problem in report.problems:
        typer.echo(f"{code}: {problem}")
    if report.ok:
        typer.echo(f"已核验 {report.checked} 卷，全部通过 / {report.checked} volumes checked, all passed")
        return
    typer.echo(
        f"已核验 {report.checked} 卷，{report.failed} 个档号有问题 / {report.checked} volumes checked, "
        f"problems with {report.failed}",
        err=True,
    )
    raise typer.Exit(1)


@app.command("receive")
def receive_command(
    archival_code: Annotated[str, typer.Argument(help="档号 of the volume to receive")],
    by: Annotated[str, typer.Option("--by", help="检查人: who receives it")],
) -> None:
    """Check a sealed volume and record its receipt (检查人, time); exit 1 when refused."""
    from exports.fixity import FixityError, ReceiptRefused
    from exports.receive import receive

    settings = _settings()
    engine = _ready_engine(settings)
    try:
        report = receive(engine, settings=settings, archival_code=archival_code, by=by)
    except ReceiptRefused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    except FixityError as exc:  # unknown 档号, no 检查人
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not report.ok:
        for _, problem in report.problems:
            typer.echo(f"{archival_code}: {problem}")
        typer.echo(f"未接收，案卷仍为已封卷 / not received: {archival_code} stays sealed", err=True)
        raise typer.Exit(1)
    typer.echo(f"已接收 received: {archival_code}（检查人 {by.strip()}）")


@app.command("volumes")
def volumes_command(
    period: Annotated[str | None, typer.Option(help="Only this month, YYYY-MM")] = None,
) -> None:
    """List bound volumes: 档号, period, items, status, sealed and received."""
    from sqlalchemy import select
    from sqlmodel import Session, col

    from core.clock import to_local
    from exports.models import Volume

    settings = _settings()
    engine = _ready_engine(settings)
    query = select(Volume).order_by(col(Volume.id))
    if period is not None:
        query = query.where(col(Volume.period) == period)
    with Session(engine) as session:
        volumes = list(session.execute(query).scalars())
    if not volumes:
        typer.echo("尚无案卷 / no volumes yet")
        return

    def when(dt: datetime | None) -> str:
        return to_local(dt, settings.tz).strftime("%Y-%m-%d %H:%M") if dt else "—"

    for v in volumes:
        received = f"{when(v.received_at)} {v.received_by}" if v.received_at else "—"
        typer.echo(
            f"{v.archival_code}  {v.period}  {v.item_count} 条  {v.status}  封卷 sealed {when(v.sealed_at)}  "
            f"接收 received {received}"
        )


def _verify_register(engine) -> None:  # type: ignore[no-untyped-def]
    from lookups.register import verify_register

    with Session(engine) as session:
        report = verify_register(session)
    for problem in report.problems:
        typer.echo(problem)
    if report.ok:
        typer.echo(f"登记簿 {report.entries} 条记录、{report.requests} 个申请，核验通过 / register verified")
        return
    typer.echo(f"登记簿核验发现 {len(report.problems)} 处问题 / register problems found", err=True)
    raise typer.Exit(1)


@staff_app.command("import")
def staff_import(
    path: Annotated[
        Path, typer.Argument(help="roster .xlsx: columns 工号, 姓名, 部门, optional 角色 (档案员)")
    ],
) -> None:
    """Import the staff roster (职工名册) that 绑定 checks against."""
    from lookups.identity import RosterError, import_roster

    settings = _settings()
    engine = _ready_engine(settings)
    try:
        with unit_of_work(engine) as session:
            result = import_roster(session, path=path)
    except RosterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"职工名册：新增 {result.added}，更新 {result.updated} / roster: {result.added} added, {result.updated} updated"
    )


@register_app.command("export")
def register_export(
    year: Annotated[int, typer.Option(help="年度")],
    out: Annotated[Path | None, typer.Option(help="Where to write the .xlsx")] = None,
) -> None:
    """Write the year's access register (查阅登记簿) as an Excel workbook."""
    from lookups.register import export_register

    settings = _settings()
    engine = _ready_engine(settings)
    path = out or settings.data_dir / "registers" / f"查阅登记簿-{year}.xlsx"
    with unit_of_work(engine) as session:
        n = export_register(session, year=year, settings=settings, path=path)
    typer.echo(f"{path}：{n} 条登记 / {n} rows")


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name")],
    role: Annotated[str, typer.Option(help="admin | canteen_manager | reception_manager | archivist")],
    display_name: Annotated[
        str, typer.Option("--name", help="Name shown in the console and in records (e.g. 李经理)")
    ] = "",
    password: Annotated[str | None, typer.Option(help="Password (asked for when not given)")] = None,
) -> None:
    """Add a console account."""
    from console.auth import create_user

    settings = _settings()
    engine = _ready_engine(settings)
    secret = password or typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        with unit_of_work(engine) as session:
            create_user(session, username=username, password=secret, role=role, display_name=display_name)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"user {username} ({role}) added")


@token_app.command("create")
def token_create(
    username: Annotated[str, typer.Argument(help="Whose token")],
    name: Annotated[str, typer.Option(help="What the token is for")] = "script",
    days: Annotated[int, typer.Option(min=1, max=3660, help="Days until it expires")] = 90,
) -> None:
    """Create a bearer token for the JSON API (shown once; expires after --days)."""
    from console.auth import create_token

    settings = _settings()
    engine = _ready_engine(settings)
    try:
        with unit_of_work(engine) as session:
            token = create_token(session, username=username, name=name, days=days)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(token)


# --- account lifecycle (issue 11): user passwd|disable|enable|list, token list|revoke ------------------


def _account_change(change: Callable[[Session], None], done: str) -> None:
    engine = _ready_engine(_settings())
    try:
        with unit_of_work(engine) as session:
            change(session)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(done)


@user_app.command("passwd")
def user_passwd(
    username: Annotated[str, typer.Argument(help="Login name")],
    password: Annotated[str | None, typer.Option(help="New password (asked for when not given)")] = None,
) -> None:
    """Change an account's password (at least 10 characters, not a common one); its sessions end."""
    from console.auth import set_password

    secret = password or typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    _account_change(
        lambda s: set_password(s, username=username, password=secret), f"password of {username} changed"
    )


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(help="Login name")]) -> None:
    """Disable an account: it cannot log in, its sessions end and its tokens are revoked."""
    from console.auth import set_active

    _account_change(lambda s: set_active(s, username=username, active=False), f"user {username} disabled")


@user_app.command("enable")
def user_enable(username: Annotated[str, typer.Argument(help="Login name")]) -> None:
    """Enable a disabled account again (its old tokens stay revoked)."""
    from console.auth import set_active

    _account_change(lambda s: set_active(s, username=username, active=True), f"user {username} enabled")


@user_app.command("list")
def user_list() -> None:
    """Every console account: name, role, display name, active or disabled."""
    from console.auth import users

    with Session(_ready_engine(_settings())) as session:
        for u in users(session):
            typer.echo(f"{u.username}\t{u.role}\t{u.display_name}\t{'active' if u.active else 'disabled'}")


@token_app.command("list")
def token_list() -> None:
    """Every bearer token: id, account, purpose, created, expires, state (never the token itself)."""
    from console.auth import tokens
    from core.clock import utcnow

    now = utcnow()
    with Session(_ready_engine(_settings())) as session:
        for t, username in tokens(session):
            state = (
                "revoked" if t.revoked else "expired" if t.expires_at and t.expires_at <= now else "active"
            )
            expires = f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never"
            typer.echo(f"{t.id}\t{username}\t{t.name}\t{t.created_at:%Y-%m-%d}\t{expires}\t{state}")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="The token's id (houqin token list)")]) -> None:
    """Revoke a bearer token at once."""
    from console.auth import revoke_token

    _account_change(lambda s: revoke_token(s, token_id=token_id), f"token {token_id} revoked")


# --- issue 11: the outage spool's operator commands (server/spool_cli.py) ---
from server.spool_cli import spool_app  # noqa: E402

app.add_typer(spool_app, name="spool")


if __name__ == "__main__":  # pragma: no cover - `python -m server.cli`, as the benchmarks run it
    app(prog_name="houqin")


# --- the tap-to-rate page (h5/, issue 15): table QR sheets and the Official Account menu ---
menu_app = typer.Typer(help="The Official Account menu (评价, 我的反馈, 帮助).", no_args_is_help=True)
app.add_typer(menu_app, name="menu")


@site_app.command("qr")
def site_qr(
    code: Annotated[str, typer.Argument(help="the canteen's code")],
    tables: Annotated[
        str, typer.Option(help="table numbers, e.g. 1-40 or 1,3,5-8; none: one code for the canteen")
    ] = "",
    out: Annotated[Path, typer.Option(help="the sheet to write: .pdf (all pages) or .png")] = Path("qr.pdf"),
) -> None:
    """Print an A4 sheet of per-table QR codes that open the feedback form, the table number under each."""
    from feedback.service import site_by_code
    from h5.sheets import parse_tables, qr_sheets, save_sheets

    settings = _settings()
    try:
        numbers: list[str | None] = list(parse_tables(tables)) if tables else [None]
    except ValueError:
        typer.echo(f"error: --tables {tables!r} is not like 1-40 or 1,3,5-8", err=True)
        raise typer.Exit(2) from None
    engine = _ready_engine(settings)
    with Session(engine) as session:
        site = site_by_code(session, code=code)
        if site is None:
            typer.echo(f"error: no active site {code!r} (houqin site add)", err=True)
            raise typer.Exit(2)
        pages = qr_sheets(settings=settings, site_code=site.code, site_name=site.name, tables=numbers)
    save_sheets(pages, out)
    typer.echo(f"{out}: {len(numbers)} QR codes on {len(pages)} A4 page(s) for {site.name}")


@menu_app.command("push")
def menu_push() -> None:
    """Create the Official Account menu through WeChat's menu API (needs HOUQIN_WECHAT_APPID/SECRET)."""
    from core.wechat_api import NotConfigured
    from h5.sheets import push_menu

    settings = _settings()
    try:
        push_menu(settings)
    except NotConfigured as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001 — WeChat's error (errcode, errmsg) in one line
        typer.echo(f"error: WeChat refused the menu: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("menu created: 评价, 我的反馈, 帮助")
