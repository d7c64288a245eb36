"""Reads that mean a person read. A bare GET of a personal link (what a mail provider's link scanner does) records
at most an *opening*; the page's own signal once displayed, or any action on the page (acknowledging, answering,
even wrongly, replying), records the *read*. The delivery report's and the teacher's read counts come from reads
alone, the openings shown apart; an opening stops neither a reminder nor an escalation."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from hub.demo.school import STAFF_DOMAIN
from hub.enums import Channel, DeliveryPurpose, DeliveryState
from hub.messaging import composer
from hub.messaging.models import Acknowledgement, Delivery, Message, Notice
from hub.messaging.planning import due_escalations
from hub.reports.delivery import Period, delivery_report
from hub.web.kit import now
from tests.web.conftest import Site
from tests.web.test_portal import Family, _family

_READ_META = re.compile(r'<meta name="carnet-read" content="([^"]+)" data-csrf="([^"]+)">')
_PENDING = (DeliveryState.PLANNED, DeliveryState.HELD, DeliveryState.DUE)


async def _marks(token: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    notice = await Notice.get(token=token)
    return notice.opened_at, notice.first_read_at


async def _report(message_id: int) -> tuple[int, int]:
    """The report's "read" stage and its "opened, not read" figure for this message."""
    message = await Message.get(id=message_id)
    today = now().date()
    period = Period(today - dt.timedelta(days=30), today + dt.timedelta(days=30), "Europe/Brussels")
    report = await delivery_report(message.school_id, period, now=now(), message_id=message_id)  # type: ignore[attr-defined]
    (read,) = [s.count for s in report.funnel if s.key == "read"]
    return read, report.opened_not_read


async def _teacher_counts(message_id: int) -> composer.Counts:
    return (await composer.counts_of([message_id]))[message_id]


def _signal(site: Site, token: str) -> tuple[str, str]:
    """The page's read signal: where it posts and its CSRF token (the page also sets the anonymous cookie)."""
    page = site.client.get(f"/n/{token}")
    assert page.status_code == 200
    found = _READ_META.search(page.text)
    assert found, "the link's page carries its read signal"
    assert '<script src="/static/read.js" defer></script>' in page.text
    return found.group(1), found.group(2)


def test_a_bare_get_records_an_opening_and_no_read(site: Site) -> None:
    family = site.run(_family)
    token = family.tokens[family.father]
    assert site.run(_marks, token) == (None, None)
    for _ in range(3):  # a scanner, then another, then the guardian's browser without its script
        assert site.client.get(f"/n/{token}").status_code == 200
    opened, read = site.run(_marks, token)
    assert opened is not None and read is None
    assert site.run(_report, family.trip_id) == (0, 1)
    counts = site.run(_teacher_counts, family.trip_id)
    assert (counts.read, counts.opened) == (0, 1)
    site.login_staff(f"prof.demo@{STAFF_DOMAIN}")
    staff_page = site.client.get(f"/staff/messages/{family.trip_id}").text
    assert 'data-counts-note="opened"' in staff_page and "pas comptée comme lue" in staff_page
    assert "aucun signe de lecture" in staff_page  # the father's row says it too


def test_the_pages_signal_records_the_read(site: Site) -> None:
    family = site.run(_family)
    token = family.tokens[family.mother]
    action, csrf = _signal(site, token)
    assert action == f"/n/{token}/read"
    # Forged or cross-site: refused, nothing recorded.
    assert site.client.post(action, data={}).status_code == 403
    assert site.client.post(action, data={"csrf_token": "forged"}).status_code == 403
    assert (
        site.client.post(action, data={"csrf_token": csrf}, headers={"origin": "https://evil.example"}).status_code
        == 403
    )
    assert site.run(_marks, token)[1] is None
    assert site.client.get(action).status_code == 405  # a fetch of the address is not a signal
    assert site.run(_marks, token)[1] is None
    signalled = site.client.post(action, data={"csrf_token": csrf})
    assert signalled.status_code == 204
    opened, read = site.run(_marks, token)
    assert opened is not None and read is not None
    assert site.client.post(action, data={"csrf_token": csrf}).status_code == 204  # again: the first read stays
    assert site.run(_marks, token)[1] == read
    assert site.run(_report, family.trip_id) == (1, 0)
    counts = site.run(_teacher_counts, family.trip_id)
    assert (counts.read, counts.opened) == (1, 0)
    assert site.client.post("/n/not-a-real-token/read", data={"csrf_token": csrf}).status_code == 404


def test_any_action_on_the_page_records_the_read_without_javascript(site: Site) -> None:
    family = site.run(_family)
    mother, father = family.tokens[family.mother], family.tokens[family.father]

    # A wrong answer (nothing stored, 400) still says a person is there.
    _action, csrf = _signal(site, mother)
    wrong = site.client.post(
        f"/n/{mother}/answer", data={"csrf_token": csrf, "target": str(family.pupil_id)}, follow_redirects=False
    )
    assert wrong.status_code == 400
    assert site.run(_marks, mother)[1] is not None

    # A reply in the link's thread, on a notice only fetched before.
    _action, csrf = _signal(site, father)
    assert site.run(_marks, father)[1] is None
    replied = site.client.post(
        f"/n/{father}/reply", data={"csrf_token": csrf, "body": "Bien reçu, merci."}, follow_redirects=False
    )
    assert replied.status_code == 303
    assert site.run(_marks, father)[1] is not None
    assert site.run(_report, family.trip_id) == (2, 0)


def test_acknowledging_records_the_read(site: Site) -> None:
    family = site.run(_family)
    token = family.tokens[family.father]
    _action, csrf = _signal(site, token)
    done = site.client.post(f"/n/{token}/ack", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert site.run(_marks, token)[1] is not None
    assert site.run(_report, family.trip_id) == (1, 0)


async def _first_electronic_step_sent_long_ago(notice_id: int) -> None:
    """The notice's first channel that alerts (not the inbox, not the letter) sent a week ago, nothing after it."""
    rows = (
        await Delivery.filter(notice_id=notice_id, purpose__in=[DeliveryPurpose.INITIAL, DeliveryPurpose.FALLBACK])
        .exclude(channel__in=[Channel.PORTAL, Channel.LETTER])
        .order_by("step")
    )
    assert rows, "the demo's notice has a channel that alerts"
    first = rows[0]
    await Delivery.filter(id=first.id).update(state=DeliveryState.SENT, sent_at=now() - dt.timedelta(days=7))
    await Delivery.filter(notice_id=notice_id, step__gt=first.step).delete()


async def _pending_reminders(notice_id: int) -> int:
    return await Delivery.filter(notice_id=notice_id, purpose=DeliveryPurpose.REMINDER, state__in=_PENDING).count()


async def _escalated(notice_id: int) -> list[int]:
    created = await due_escalations(now(), wait=dt.timedelta(hours=1))
    return [d.notice_id for d in created if d.notice_id == notice_id]


def test_an_opening_stops_no_reminder_and_no_escalation(site: Site) -> None:
    family: Family = site.run(_family)
    notice_id, token = family.notices[family.father], family.tokens[family.father]
    site.run(_first_electronic_step_sent_long_ago, notice_id)
    reminders: Any = site.run(_pending_reminders, notice_id)
    site.client.get(f"/n/{token}")  # opened: the trip asked for "I have read", which an opening is not
    assert site.run(_marks, token)[0] is not None
    assert site.run(lambda: Acknowledgement.filter(notice_id=notice_id).exists()) is False
    assert site.run(_pending_reminders, notice_id) == reminders
    assert site.run(_escalated, notice_id) == [notice_id]
