"""The CLI package and the scheduler say what they hold: every `houqin` command is named in server/cli's
docstring, every scheduled job in server/scheduler's, and `python -m server.cli` runs the whole app."""

from __future__ import annotations

import re
import subprocess
import sys

import typer.main

import server.cli
import server.scheduler
from server.cli import app


def _commands(group: object, prefix: str = "") -> list[str]:
    out: list[str] = []
    for name, command in getattr(group, "commands", {}).items():
        if getattr(command, "commands", None):
            out += _commands(command, f"{prefix}{name} ")
        else:
            out.append(f"{prefix}{name}")
    return out


def test_the_cli_docstring_names_every_command() -> None:
    commands = _commands(typer.main.get_command(app))
    assert len(commands) >= 25
    doc = server.cli.__doc__ or ""
    for command in commands:
        group, _, leaf = command.partition(" ")
        named = f"`{command}`" in doc or (leaf and f"`{group} " in doc and leaf in doc)
        assert named, f"houqin {command} is not in server/cli/__init__.py's docstring"


def test_the_scheduler_docstring_names_every_job() -> None:
    doc = server.scheduler.__doc__ or ""
    for job in [*server.scheduler.DEFAULT_JOBS, server.scheduler.RETRY]:
        assert re.search(rf"^- {job}\b", doc, re.M), job


def test_python_m_server_cli_lists_every_group() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for group in ("serve", "compile", "spool", "menu", "site", "user", "token"):
        assert group in out
