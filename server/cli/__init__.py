"""The `houqin` command line (Typer). Every command, by area; each area's module does the work:

- running (server/cli/serve.py): `serve`, `scheduler`, `jobs`, `db upgrade`;
- demo data (server/cli/demo.py): `demo`;
- archives (server/cli/archives.py): `compile`, `verify`, `receive`, `volumes`;
- places (server/cli/sites.py): `site add`, `site qr`, `meeting add`, `menu push`;
- archive lookups (server/cli/roster.py): `staff import`, `register export`;
- accounts (server/cli/accounts.py): `user add|passwd|disable|enable|list`, `token create|list|revoke`;
- the outage spool (server/cli/spool.py): `spool status`, `spool replay-dead`.

The console script `houqin` is `server.cli:app`; `python -m server.cli` runs the same app. Commands are
registered here, in the order `houqin --help` lists them.
"""

from __future__ import annotations

import typer

from server.cli import accounts, archives, demo, roster, serve, sites, spool

app = typer.Typer(help="houqin 后勤: WeChat feedback bot and archive desk.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
meeting_app = typer.Typer(help="Meetings (会务) and their QR codes.", no_args_is_help=True)
site_app = typer.Typer(help="Canteens and venues.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff roster (职工名册).", no_args_is_help=True)
register_app = typer.Typer(help="Access register (查阅登记簿).", no_args_is_help=True)
user_app = typer.Typer(help="Console accounts.", no_args_is_help=True)
token_app = typer.Typer(help="API bearer tokens.", no_args_is_help=True)
spool_app = typer.Typer(help="The outage spool (deliveries kept on disk while the database is down).")
menu_app = typer.Typer(help="The Official Account menu (评价, 我的反馈, 帮助).", no_args_is_help=True)

app.command("serve")(serve.serve)
app.command("scheduler")(serve.scheduler_command)
app.command("jobs")(serve.jobs_command)
app.command("demo")(demo.demo)
app.command("compile")(archives.compile_command)
app.command("verify")(archives.verify_command)
app.command("receive")(archives.receive_command)
app.command("volumes")(archives.volumes_command)

db_app.command("upgrade")(serve.db_upgrade)
site_app.command("add")(sites.site_add)
site_app.command("qr")(sites.site_qr)
meeting_app.command("add")(sites.meeting_add)
menu_app.command("push")(sites.menu_push)
staff_app.command("import")(roster.staff_import)
register_app.command("export")(roster.register_export)
user_app.command("add")(accounts.user_add)
user_app.command("passwd")(accounts.user_passwd)
user_app.command("disable")(accounts.user_disable)
user_app.command("enable")(accounts.user_enable)
user_app.command("list")(accounts.user_list)
token_app.command("create")(accounts.token_create)
token_app.command("list")(accounts.token_list)
token_app.command("revoke")(accounts.token_revoke)
spool_app.command("status")(spool.spool_status)
spool_app.command("replay-dead")(spool.spool_replay_dead)

app.add_typer(db_app, name="db")
app.add_typer(meeting_app, name="meeting")
app.add_typer(site_app, name="site")
app.add_typer(staff_app, name="staff")
app.add_typer(register_app, name="register")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(spool_app, name="spool")
app.add_typer(menu_app, name="menu")
