"""/metrics (Prometheus text format), /healthz with the spool, and the JSON access lines."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session

from core.clock import utcnow
from core.db import make_engine
from core.logs import AccessLog, JsonFormatter
from core.models import JobRun
from core.outbox import enqueue
from ingest.spool import Spool
from server.app import create_app
from tests.support.wechat_peer import WeChatPeer, reply_text, text_xml

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ("127.0.0.1", 50000)  # /metrics answers direct loopback callers only (issue 11)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_dedupe_outbox_and_jobs(settings, engine) -> None:  # type: ignore[no-untyped-def]
    peer = WeChatPeer()
    with Session(engine) as s:
        enqueue(s, to_user="o_m1", text="一")
        enqueue(s, to_user="o_m2", text="二")
        s.add(JobRun(job="compile", period="2026-09", status="succeeded", finished_at=utcnow()))
        s.add(JobRun(job="compile", period="2026-10", status="failed", error="boom"))
        s.commit()
    with TestClient(create_app(settings, engine=engine), client=LOCAL) as c:
        before = c.get("/metrics").text
        params, body = peer.safe(text_xml("5分 好", sender="o_metrics", msg_id=424242))
        for _ in range(3):  # the first stores, two are dedupe hits
            assert "FK" in reply_text(peer, c.post("/wechat", params=params, content=body))
        c.post("/wechat", params={"timestamp": "1"}, content=b"<xml/>")  # refused: 403
        c.get("/healthz")
        c.get("/no/such/page")
        r = c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    after = r.text

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("houqin_http_requests_total", path="/wechat", status="200") == 3
    assert delta("houqin_http_requests_total", path="/wechat", status="403") == 1
    assert delta("houqin_http_requests_total", path="/healthz", status="200") == 1
    assert delta("houqin_http_requests_total", path="unmatched", status="404") == 1  # no raw URLs as labels
    assert delta("houqin_http_request_duration_seconds_count", path="/wechat") == 4
    assert delta("houqin_http_request_duration_seconds_bucket", path="/wechat", le="+Inf") == 4
    assert delta("houqin_webhook_duplicates_total") == 2
    assert value(after, "houqin_database_up") == 1
    assert value(after, "houqin_spool_depth") == 0
    assert value(after, "houqin_outbox_messages", app="mp", status="pending") == 2
    assert value(after, "houqin_job_runs", job="compile", status="failed") == 1
    assert value(after, "houqin_job_runs", job="compile", status="succeeded") == 1
    assert value(after, "houqin_job_last_success_timestamp_seconds", job="compile") > 0
    assert "o_metrics" not in after  # no openid ever becomes a label


def test_metrics_and_healthz_while_the_database_is_down(settings) -> None:  # type: ignore[no-untyped-def]
    dead = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1")
    sp = Spool(settings.data_dir / "spool")
    peer = WeChatPeer()
    with TestClient(create_app(settings, engine=dead), client=LOCAL) as c:
        params, body = peer.safe(text_xml("3分 一般", sender="o_down"))
        c.post("/wechat", params=params, content=body)
        m = c.get("/metrics")
        h = c.get("/healthz")
    assert m.status_code == 200
    assert value(m.text, "houqin_database_up") == 0
    assert value(m.text, "houqin_spool_depth") == 1
    assert value(m.text, "houqin_spool_appended_total") >= 1
    assert h.status_code == 503
    body = h.json()
    assert body["status"] == "degraded" and body["spool"]["depth"] == 1 and body["spool"]["files"] == 1
    assert body["spool"]["oldest_age_s"] is not None
    sp.close()


def test_access_lines_are_json_without_openids_or_text(settings, engine, caplog) -> None:  # type: ignore[no-untyped-def]
    peer = WeChatPeer()
    from core.logs import access_log

    with (
        caplog.at_level(logging.INFO, logger="houqin.access"),
        TestClient(create_app(settings, engine=engine), client=LOCAL) as c,
    ):
        xml = text_xml("4分 秘密的意见内容", sender="o_secret_openid", msg_id=777001)
        params, body = peer.safe(xml)
        c.post("/wechat", params=params, content=body)
        c.post("/wechat", params=params, content=body)
        c.get("/healthz")
        access_log.flush()
    records = [r for r in caplog.records if r.name == "houqin.access"]
    wechat = [r for r in records if r.__dict__["path"] == "/wechat"]
    assert [(r.__dict__["status"], r.__dict__["msg_type"], r.__dict__["dedupe_hit"]) for r in wechat] == [
        (200, "text", False),
        (200, "text", True),
    ]
    assert all(r.__dict__["ms"] >= 0 and r.__dict__["method"] == "POST" for r in wechat)
    assert any(r.__dict__["path"] == "/healthz" for r in records)
    everything = "\n".join(JsonFormatter().format(r) for r in caplog.records if r.levelno <= logging.INFO)
    assert "o_secret_openid" not in everything and "秘密" not in everything


def test_the_fast_writer_emits_valid_json_lines() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("houqin.test_access_fast")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log = AccessLog(logger)
        for i in range(300):  # several pipe-sized writes
            log.record("POST", "/wechat", 200, 0.00123, 'te"xt' if i == 0 else "text", i % 2 == 1)
        log.flush()
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 300
    first = json.loads(lines[0])
    assert {k: first[k] for k in ("logger", "method", "path", "status", "ms", "msg_type", "dedupe_hit")} == {
        "logger": "houqin.test_access_fast",
        "method": "POST",
        "path": "/wechat",
        "status": 200,
        "ms": 1.23,
        "msg_type": 'te"xt',
        "dedupe_hit": False,
    }
    assert json.loads(lines[1])["dedupe_hit"] is True and "pid" in first and first["ts"].endswith("+00:00")


_MP = """
import sys
sys.path.insert(0, {root!r})
from core import metrics
from core.metrics import exposition, observe_request
from prometheus_client import CollectorRegistry
observe_request("/wechat", 200, 0.002)
metrics.DUPLICATES.inc()
print(metrics.MULTIPROCESS)
"""


def test_multiprocess_mode_adds_up_every_process(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):  # two "workers", each counting once
        out = subprocess.run(
            [sys.executable, "-c", _MP.format(root=str(ROOT))],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == "True"
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from core.metrics import exposition\nfrom prometheus_client import CollectorRegistry\n"
        "sys.stdout.write(exposition(CollectorRegistry()).decode())"
    )
    text = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert value(text, "houqin_http_requests_total", path="/wechat", status="200") == 2
    assert value(text, "houqin_webhook_duplicates_total") == 2
    assert value(text, "houqin_http_request_duration_seconds_count", path="/wechat") == 2


@pytest.mark.parametrize("route", ["/metrics", "/healthz"])
def test_ops_routes_are_served_beside_the_fast_path(settings, engine, route) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings, engine=engine), client=LOCAL) as c:
        assert c.get(route).status_code == 200


def test_the_spool_gauges_come_from_the_status_the_app_passes_in(engine) -> None:  # type: ignore[no-untyped-def]
    from prometheus_client import generate_latest

    from core import metrics
    from ingest.spool import SpoolStatus

    state = metrics.state_registry(engine, lambda: SpoolStatus(3, 12.5, 1, 2))
    text = generate_latest(state).decode()
    assert value(text, "houqin_spool_depth") == 3
    assert value(text, "houqin_spool_oldest_age_seconds") == 12.5
    assert value(text, "houqin_spool_dead_letters") == 2
    assert value(text, "houqin_database_up") == 1


def test_core_metrics_imports_no_package_above_core() -> None:
    above = [
        "bot",
        "handlers",
        "ingest",
        "feedback",
        "exports",
        "lookups",
        "search",
        "console",
        "h5",
        "server",
    ]
    code = (
        f"import sys, core.metrics; print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(above)!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
