"""The demo's clock: `scripts/demo` started on a Saturday night still shows messages reaching families.

The demo (``carnet demo-data`` then ``carnet serve`` with ``CARNET_DEMO_PEERS``) runs on a clock of its own, kept in
the data directory: it starts on the next school day at 10:00, when the charter lets messages go, and runs forward;
the button in the page header jumps to the next release. Plain ``carnet serve`` reads the system's time.

The tests start the demo as ``scripts/demo`` does, with the real time seen as a Saturday 23:30 (``at_saturday_night``):
``carnet demo-data`` in this process (``hub.cli.main``), then the app with ``demo_peers=True`` after putting the
Saturday clock back, as a second process would see it.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from charter import default_charter, is_allowed, is_school_day
from hub import cli, clock
from hub.config import Settings
from hub.dates import long_date
from hub.demo.guide import DemoGuide, demo_guide
from hub.demo.school import STAFF_DOMAIN, install_demo_clock
from hub.enums import AudienceKind, DeliveryState, Urgency
from hub.messaging.models import Delivery
from hub.web import create_app

BRUSSELS = default_charter().tz
TEACHER = f"prof.demo@{STAFF_DOMAIN}"
#: Generous (a slow CI machine; the school-wide news of the demo goes out first): the wait ends as soon as the
#: page shows it.
WAIT = 120.0
#: What the newcomer waits at most to see a message reach both parents, from the start of the server.
A_MINUTE = 60.0
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _wait_for(what: str, check: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.5)


@pytest.fixture
def demo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment of `scripts/demo`: a data directory and its SQLite file."""
    monkeypatch.setenv("CARNET_DATA_DIR", str(tmp_path))
    for name in ("CARNET_DATABASE_URL", "CARNET_DEMO_PEERS", "CARNET_CHARTER"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _demo_data(*args: str) -> None:
    """``carnet demo-data`` as `scripts/demo` runs it, in this process; then the time the machine sees again
    (the command's process ends; the server is another one)."""
    seen = clock.current()
    assert cli.main(["demo-data", "--if-empty", *args]) == 0
    clock.use(seen)


def _sign_in_api(client: TestClient, email: str) -> str:
    response = client.post("/api/v1/session", json={"kind": "staff", "email": email, "password": "demo"})
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


def _write(client: TestClient, guide: DemoGuide, subject: str, scheduled_at: dt.datetime | None = None) -> dict:
    """The teacher writes to the separated parents' child, through the API the pages' composer shares."""
    csrf = _sign_in_api(client, TEACHER)
    body = {
        "subject": subject,
        "body": "Demain, la classe part à 8 h 15 devant l'école.",
        "audience": [{"kind": AudienceKind.PUPIL.value, "id": guide.separated_pupil_id}],
        "scheduled_at": scheduled_at.isoformat() if scheduled_at else None,
    }
    response = client.post("/api/v1/messages", json=body, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _reached(client: TestClient, guide: DemoGuide, subject: str) -> Callable[[], bool]:
    escaped = subject.replace("'", "&#39;")

    def check() -> bool:
        return all(
            escaped in client.get(f"/demo/outbox?guardian={p.guardian_id}").text for p in guide.separated_parents
        )

    return check


# --------------------------------------------------------------------------------------------- the clock itself


def test_the_demo_clock_starts_on_the_next_school_day_at_ten_and_is_kept_in_the_data_dir(
    at_saturday_night: dt.datetime, tmp_path: Path
) -> None:
    charter = default_charter()
    started = install_demo_clock(tmp_path, charter)
    assert isinstance(clock.current(), clock.DemoClock) and clock.current() is started
    local = started.now().astimezone(BRUSSELS)
    assert local.date() > at_saturday_night.astimezone(BRUSSELS).date()
    assert (local.hour, local.minute) == (10, 0)
    assert is_school_day(charter, local.date()) and is_allowed(charter, started.now(), Urgency.NORMAL)
    # Every day between Saturday night and then was no day to start on.
    day = at_saturday_night.astimezone(BRUSSELS).date() + dt.timedelta(days=1)
    while day < local.date():
        assert not is_school_day(charter, day)
        day += dt.timedelta(days=1)

    # Another command of the same demo reads the same clock; a jump forward is kept for the next one.
    again = install_demo_clock(tmp_path, charter)
    assert abs((again.now() - started.now()).total_seconds()) < 5
    tuesday_noon = started.now() + dt.timedelta(days=1, hours=2)
    again.advance_to(tuesday_noon)
    assert install_demo_clock(tmp_path, charter).now() >= tuesday_noon
    again.advance_to(started.now() - dt.timedelta(days=3))  # never back
    assert clock.now() >= tuesday_noon

    # A new demo school starts a new clock, saved once the school exists.
    fresh = install_demo_clock(tmp_path, charter, fresh=True)
    assert fresh.now() < tuesday_noon
    assert install_demo_clock(tmp_path, charter).now() >= tuesday_noon  # not saved yet
    fresh.save()
    assert install_demo_clock(tmp_path, charter).now() < tuesday_noon


# ------------------------------------------------------------------------------------------- the demo, end to end


def test_a_demo_started_on_saturday_night_delivers_the_teachers_message_within_a_minute(
    at_saturday_night: dt.datetime, demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _demo_data("--with-messages")
    terminal = capsys.readouterr().out
    assert (demo_dir / clock.DEMO_CLOCK_FILE).exists()
    assert not isinstance(clock.current(), clock.DemoClock)  # this process sees Saturday night again

    serve_started = time.monotonic()
    with TestClient(create_app(Settings(data_dir=demo_dir, demo_peers=True))) as client:
        # The server read the clock `carnet demo-data` started: a school day, 10:00, open for messages.
        demo_now = clock.now()
        local = demo_now.astimezone(BRUSSELS)
        assert isinstance(clock.current(), clock.DemoClock)
        assert local.date() > at_saturday_night.astimezone(BRUSSELS).date() and local.hour == 10
        assert is_allowed(default_charter(), demo_now, Urgency.NORMAL)

        guide = client.portal.call(demo_guide)  # type: ignore[union-attr]
        assert guide is not None and len(guide.separated_parents) == 2 and guide.paper_family
        # The terminal and the landing page name the same families, the demo clock and how to jump.
        landing = client.get("/").text
        for person in [*guide.separated_parents, *guide.paper_family]:
            assert person.name in terminal and person.name in landing
        assert guide.separated_pupil in terminal
        assert "demo clock" in terminal and long_date(local.date(), "en", weekday=True) in terminal
        assert "Horloge de démo" in landing and long_date(local.date(), "fr", weekday=True) in landing
        assert "le bouton à côté de l'horloge" in html.unescape(landing)

        # The teacher's trip (published by `carnet demo-data` at the demo's 10:00, not held until Monday) reaches
        # both parents of the separated household within a minute of the start.
        trip = _reached(client, guide, "Visite du musée Félicien Rops")
        _wait_for("the trip in both parents' outbox", trip, timeout=A_MINUTE - (time.monotonic() - serve_started))

        # A message the teacher writes now goes out at once too (after the school-wide news queued before it).
        published = _write(client, guide, "Départ de l'excursion")
        assert published["due"] >= 2 and published["held"] == 0, published
        _wait_for("the teacher's message in both parents' outbox", _reached(client, guide, "Départ de l'excursion"))
        # The outbox times are the demo clock's.
        outbox = client.get(f"/demo/outbox?guardian={guide.separated_parents[0].guardian_id}").text
        assert long_date(local.date(), "fr", weekday=True) in outbox


def test_the_jump_moves_the_demo_clock_to_the_next_release_and_the_held_message_goes_out(
    at_saturday_night: dt.datetime, demo_dir: Path
) -> None:
    _demo_data()
    with TestClient(create_app(Settings(data_dir=demo_dir, demo_peers=True))) as client:
        guide = client.portal.call(demo_guide)  # type: ignore[union-attr]
        assert guide is not None
        landing = html.unescape(client.get("/").text)
        assert "Rien n'est retenu." in landing and 'action="/demo/clock/jump"' not in landing

        # Scheduled for 15:00 of the demo's day: held until then.
        at = clock.now().astimezone(BRUSSELS).replace(hour=15, minute=0, second=0, microsecond=0)
        published = _write(client, guide, "Goûter de fin de trimestre", scheduled_at=at)
        assert published["state"] == "scheduled" and published["held"] >= 2, published
        page = client.get("/demo/outbox").text
        assert "Goûter de fin de trimestre" not in page
        assert "Avancer jusqu'au prochain envoi retenu" in html.unescape(page) and "15:00" in page

        # Without the form's token: refused, the clock stays.
        before = clock.now()
        assert client.post("/demo/clock/jump", data={"next": "/demo/outbox"}).status_code == 403
        assert clock.now() - before < dt.timedelta(minutes=1)

        csrf = _CSRF.search(page)
        assert csrf
        jumped = client.post(
            "/demo/clock/jump", data={"csrf_token": csrf.group(1), "next": "/demo/outbox"}, follow_redirects=False
        )
        assert jumped.status_code == 303 and jumped.headers["location"] == "/demo/outbox"
        assert clock.now() >= at
        # The clock file says so too: the next command of this demo reads the same time.
        assert install_demo_clock(demo_dir).now() >= at
        clock_now = clock.now()

        _wait_for("the held message in both parents' outbox", _reached(client, guide, "Goûter de fin de trimestre"))

        async def waiting() -> int:
            held = (DeliveryState.HELD, DeliveryState.PLANNED)
            return await Delivery.filter(notice__message_id=published["id"], state__in=held).count()

        assert client.portal.call(waiting) == 0  # type: ignore[union-attr]
        # Still signed in after the jump: the sessions moved with the clock.
        assert client.get("/api/v1/session").status_code == 200
        assert clock.now() >= clock_now


# ------------------------------------------------------------------------------------------------ plain serve


def test_plain_serve_reads_the_system_clock_even_beside_a_demo_clock(demo_db_url: str, tmp_path: Path) -> None:
    # A data directory where a demo ran, its clock two days ahead: `carnet serve` without CARNET_DEMO_PEERS
    # ignores it.
    (tmp_path / clock.DEMO_CLOCK_FILE).write_text('{"offset_seconds": 172800}', encoding="utf-8")
    settings = Settings(data_dir=tmp_path, database_url=demo_db_url)
    assert not settings.demo_peers
    with TestClient(create_app(settings)) as client:
        assert not clock.is_shifted()
        assert abs(clock.now() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
        page = client.get("/").text
        assert "Horloge de démo" not in page and "/demo/clock/jump" not in page
        csrf = _CSRF.search(client.get("/login").text)
        assert csrf
        refused = client.post("/demo/clock/jump", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
        assert refused.status_code == 404
        assert not clock.is_shifted()
