"""`python -m server.cli …`, as the benchmarks and the fault tests run it: the same app as `houqin …`."""

from server.cli import app

app(prog_name="houqin")
