"""schemathesis over the OpenAPI spec with an admin bearer token (both databases): a few thousand
generated requests — out-of-range integers, Unicode digits, lone surrogates, odd dates, unknown
enum values — and not one answered 500. Bounded: a fixed number of examples per operation, no shrinking."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import hypothesis
import pytest
import schemathesis
import time_machine
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from sqlalchemy import Engine

from core.db import unit_of_work
from core.settings import Settings
from server.app import create_app
from server.demo.fill import fill_demo
from tests.console.test_api import token_for
from tests.support.console_helpers import add_users

pytestmark = pytest.mark.slow
EXAMPLES_PER_OPERATION = 80
NOW = "2026-11-20 10:00:00+08:00"


@pytest.fixture
def admin_app(settings: Settings, engine: Engine) -> Iterator[tuple[object, dict[str, str]]]:
    add_users(engine)
    with unit_of_work(engine) as s:
        fill_demo(s, settings=settings, count=60, seed=3, today=date(2026, 11, 20))
    app = create_app(settings, engine=engine)
    with TestClient(app):
        yield app, token_for(engine, "admin")


def test_no_generated_request_gets_a_500(admin_app: tuple[object, dict[str, str]]) -> None:
    app, headers = admin_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=headers)
    cases = 0
    failures: list[str] = []
    with time_machine.travel(NOW, tick=False):
        for result in schema.get_all_operations():
            operation = result.ok()

            @hypothesis.settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy())
            def run(case: schemathesis.Case) -> None:
                nonlocal cases
                cases += 1
                where = f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r}"
                try:
                    response = case.call(headers=headers)
                except Exception as exc:  # the test client re-raises what the app answered 500 for
                    failures.append(f"{where} -> {type(exc).__name__}: {str(exc)[:120]}")
                    return
                if response.status_code >= 500:
                    failures.append(f"{where} -> {response.status_code}")

            run()
    print(f"schemathesis: {cases} cases")
    assert cases >= 1000
    assert not failures, "\n".join(failures[:30])
