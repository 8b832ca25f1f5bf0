"""Console accounts and API tokens: `houqin user add|passwd|disable|enable|list` and
`houqin token create|list|revoke` (console/auth.py does the work)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from sqlmodel import Session

from core.db import unit_of_work
from server.cli.common import load_settings, ready_engine


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

    settings = load_settings()
    engine = ready_engine(settings)
    secret = password or typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        with unit_of_work(engine) as session:
            create_user(session, username=username, password=secret, role=role, display_name=display_name)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"user {username} ({role}) added")


def token_create(
    username: Annotated[str, typer.Argument(help="Whose token")],
    name: Annotated[str, typer.Option(help="What the token is for")] = "script",
    days: Annotated[int, typer.Option(min=1, max=3660, help="Days until it expires")] = 90,
) -> None:
    """Create a bearer token for the JSON API (shown once; expires after --days)."""
    from console.auth import create_token

    settings = load_settings()
    engine = ready_engine(settings)
    try:
        with unit_of_work(engine) as session:
            token = create_token(session, username=username, name=name, days=days)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(token)


# --- account lifecycle (issue 11) -------------------------------------------------------------------------


def _account_change(change: Callable[[Session], None], done: str) -> None:
    """Apply `change` in one unit of work and print `done`; a refused change prints why and exits 2."""
    engine = ready_engine(load_settings())
    try:
        with unit_of_work(engine) as session:
            change(session)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(done)


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


def user_disable(username: Annotated[str, typer.Argument(help="Login name")]) -> None:
    """Disable an account: it cannot log in, its sessions end and its tokens are revoked."""
    from console.auth import set_active

    _account_change(lambda s: set_active(s, username=username, active=False), f"user {username} disabled")


def user_enable(username: Annotated[str, typer.Argument(help="Login name")]) -> None:
    """Enable a disabled account again (its old tokens stay revoked)."""
    from console.auth import set_active

    _account_change(lambda s: set_active(s, username=username, active=True), f"user {username} enabled")


def user_list() -> None:
    """Every console account: name, role, display name, active or disabled."""
    from console.auth import users

    with Session(ready_engine(load_settings())) as session:
        for u in users(session):
            typer.echo(f"{u.username}\t{u.role}\t{u.display_name}\t{'active' if u.active else 'disabled'}")


def token_list() -> None:
    """Every bearer token: id, account, purpose, created, expires, state (never the token itself)."""
    from console.auth import tokens
    from core.clock import utcnow

    now = utcnow()
    with Session(ready_engine(load_settings())) as session:
        for t, username in tokens(session):
            state = (
                "revoked" if t.revoked else "expired" if t.expires_at and t.expires_at <= now else "active"
            )
            expires = f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never"
            typer.echo(f"{t.id}\t{username}\t{t.name}\t{t.created_at:%Y-%m-%d}\t{expires}\t{state}")


def token_revoke(token_id: Annotated[int, typer.Argument(help="The token's id (houqin token list)")]) -> None:
    """Revoke a bearer token at once."""
    from console.auth import revoke_token

    _account_change(lambda s: revoke_token(s, token_id=token_id), f"token {token_id} revoked")
