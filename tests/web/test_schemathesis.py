"""Schemathesis against the served OpenAPI document (``/api/openapi.json`` of a real ``carnet serve`` with the demo
school), as an anonymous client, as a teacher and as a guardian: every operation gets generated requests, valid and
invalid, and every answer must be no 5xx, a status code the document lists for that operation, the content type it
states, headers and a body that match its schema, and invalid input must be refused.

The examples are derandomized (the same cases on every run, so CI is reproducible); ``CARNET_SCHEMATHESIS_EXAMPLES``
raises their number for a deeper local run (e.g. 200).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.demo.school import STAFF_DOMAIN
from hub.enums import ActorKind
from hub.people import security
from hub.people.models import Guardianship
from hub.testing import times
from hub.testing.liveserver import LiveServer, serve

EXAMPLES = int(os.environ.get("CARNET_SCHEMATHESIS_EXAMPLES", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@dataclass
class Caller:
    """Who sends the generated requests: their cookies (a session) and the CSRF header the API asks of them."""

    name: str
    session: requests.Session
    headers: dict[str, str]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve(tmp_path_factory.mktemp("schemathesis"), at=times.school_hours()) as server:
        yield server


@pytest.fixture(scope="module")
def served_schema(live: LiveServer) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{live.url}/api/openapi.json")
    # The session cookie and the CSRF header are the caller's (anonymous, teacher, guardian), sent as a client
    # sends them; generating or removing them case by case would test requests.Session, not Carnet.
    schema.config.generation.update(with_security_parameters=False)
    return schema


def _teacher(live: LiveServer) -> Caller:
    session = requests.Session()
    answer = session.post(
        f"{live.url}/api/v1/session",
        json={"kind": "staff", "email": f"prof.demo@{STAFF_DOMAIN}", "password": "demo"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return Caller("teacher", session, {"X-CSRF-Token": answer.json()["csrf_token"]})


def _guardian(live: LiveServer) -> Caller:
    async def start() -> str:
        link = await Guardianship.filter(barred=False).order_by("id").first()
        assert link is not None
        started = await security.start_session(ActorKind.GUARDIAN, link.guardian_id, times.school_hours())  # type: ignore[attr-defined]
        return started.token

    session = requests.Session()
    session.cookies.set("carnet_session", live.run(start), domain="127.0.0.1")
    answer = session.get(f"{live.url}/api/v1/session", timeout=30)
    assert answer.status_code == 200, answer.text
    return Caller("guardian", session, {"X-CSRF-Token": answer.json()["csrf_token"]})


@pytest.fixture(scope="module")
def callers(live: LiveServer) -> dict[str, Caller]:
    return {
        "anonymous": Caller("anonymous", requests.Session(), {}),
        "teacher": _teacher(live),
        "guardian": _guardian(live),
    }


def _failures(
    operation: schemathesis.APIOperation, mode: GenerationMode, caller: Caller, url: str, sent: list[int]
) -> list[str]:
    """Run this operation's generated cases; the checks' failures, each with the request that caused it."""
    found: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(case: schemathesis.Case) -> None:
        sent.append(1)
        try:
            case.call_and_validate(base_url=url, session=caller.session, headers=caller.headers, checks=CHECKS)
        except (AssertionError, FailureGroup) as failure:  # keep going: every failure of every operation shows
            found.append(
                f"{caller.name} {mode.value} {operation.label}: {str(failure)[:600]}\n  {case.as_curl_command()}"
            )

    try:
        run()
    except Unsatisfiable:
        # No invalid request exists for an operation without parameters or body (GET /api/v1/me): nothing to try.
        assert mode is GenerationMode.NEGATIVE, operation.label
    return found


@pytest.mark.slow
@pytest.mark.parametrize("who", ["anonymous", "teacher", "guardian"])
def test_the_api_keeps_its_document(
    who: str, served_schema: schemathesis.BaseSchema, callers: dict[str, Caller], live: LiveServer
) -> None:
    caller = callers[who]
    operations = [result.ok() for result in served_schema.get_all_operations()]
    assert len(operations) >= 25  # every operation of the document, none skipped
    # Signing out ends the caller's session: it goes last, after checking the rest ran signed in.
    last = [op for op in operations if op.label == "DELETE /api/v1/session"]
    failures: list[str] = []
    sent: list[int] = []
    for operation in [op for op in operations if op not in last]:
        for mode in GenerationMode:
            failures += _failures(operation, mode, caller, live.url, sent)
    assert len(sent) >= len(operations) * EXAMPLES, len(sent)  # every operation got its cases
    still = caller.session.get(f"{live.url}/api/v1/me", timeout=30)
    assert still.status_code == (401 if who == "anonymous" else 200), "the cases ran with the caller's session"
    for operation in last:
        for mode in GenerationMode:
            failures += _failures(operation, mode, caller, live.url, sent)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])
