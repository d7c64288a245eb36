"""One honest held state, the same everywhere (issue 10): a message sent when the charter is closed is in the
families' portal at once, its notifications (email, SMS, letters) are held until the charter opens, and the
preview, the teacher's message page (and its live JSON), the guardian's portal and the principal's report all say
so, counting families. The same message sent in school hours is said to be on its way, then delivered.

Each test states its hour (``at_saturday_night``, ``at_school_hours``), taken before the app so that it starts
on that clock: they pass whatever the machine's time."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter import default_charter, next_allowed
from hub import clock
from hub.config import Settings
from hub.dates import long_date
from hub.enums import Channel, DeliveryPurpose, DeliveryState, ErrorKind, Urgency
from hub.messaging.composer import Standing, family_standing
from hub.messaging.models import Delivery, Notice
from hub.messaging.planning import due_deliveries, record_outcome
from hub.testing.times import BRUSSELS
from tests.web.conftest import Site, _serve
from tests.web.test_compose import PRINCIPAL, TEACHER, _compose, _draft_id, _message_form, _send, _taught_class


@pytest.fixture
def channels_site(demo_db_url: str, tmp_path: Path) -> Iterator[Site]:
    """The app with email and SMS configured (nothing is sent: the worker does not run in these tests)."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=demo_db_url,
        base_url="http://testserver",
        smtp_host="127.0.0.1",
        smtp_port=2,
        smtp_starttls=False,
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="secret",
        twilio_from="+3225550000",
        twilio_api_base="http://127.0.0.1:9",
    )
    yield from _serve(settings)


def _french_time(at: dt.datetime) -> str:
    """A time as the pages write it in French (``lundi 7 décembre 2026, 07:30``, school time)."""
    local = at.astimezone(BRUSSELS)
    return f"{long_date(local.date(), 'fr', weekday=True)}, {local:%H:%M}"


def _opening_after(at: dt.datetime) -> dt.datetime:
    return next_allowed(default_charter(), at, Urgency.NORMAL)


def _text(html: str) -> str:
    """A page's text on one line, entities of apostrophes undone (what a reader sees, near enough)."""
    return " ".join(html.replace("&#39;", "'").replace("&amp;", "&").split())


async def _steps(message_id: int) -> list[dict[str, Any]]:
    return list(
        await Delivery.filter(notice__message_id=message_id)
        .exclude(purpose=DeliveryPurpose.REMINDER)
        .order_by("notice_id", "step", "id")
        .values("id", "notice_id", "notice__guardian_id", "channel", "state", "due_at")
    )


def _compose_and_send(site: Site, *, author: str = PRINCIPAL, **changes: Any) -> tuple[int, str]:
    """A message to a class the demo teacher teaches, previewed then sent: its id and the preview's text."""
    site.login_staff(author)
    group = site.run(_taught_class)
    message_id = _draft_id(_compose(site, _message_form(group=str(group), **changes)))
    preview = site.client.get(f"/staff/compose/{message_id}/preview")
    assert preview.status_code == 200
    sent = _send(site, message_id)
    assert sent.status_code == 303 and sent.headers["location"] == f"/staff/messages/{message_id}?sent=1"
    return message_id, preview.text


def _plain(lines: list[str]) -> list[str]:
    """French text as the test writes it: the narrow no-break space the typography helper puts before ":" read as
    a plain space."""
    return [line.replace("\u202f", " ") for line in lines]


def _status(html: str) -> str:
    found = re.search(r'<div id="status"[^>]*>(.*?)</div>', html, re.S)
    assert found, "the message page has its status"
    return _text(re.sub(r"<[^>]+>", " ", found.group(1)))


def _cards(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'<p class="big" data-count="(\w+)">(\d+)</p>', html)}


# ----------------------------------------------------------------------------------------- Saturday night


def test_on_saturday_night_the_portal_has_it_and_the_notifications_are_held(
    at_saturday_night: dt.datetime, channels_site: Site
) -> None:
    site = channels_site
    monday = _opening_after(at_saturday_night)  # Monday 07:30 but in the holidays
    message_id, preview = _compose_and_send(site)

    # The preview says both: in the portal at once, the notifications when the charter opens.
    said = _text(preview)
    promise = f"Visible dans le portail dès l’envoi ; les notifications (e-mail, SMS…) partent {_french_time(monday)}."
    assert promise in said
    assert "La boîte de réception des familles l’affiche aussi" not in said  # the old, wrong promise

    # What publishing did: every inbox step delivered now, every other step held until the charter opens.
    steps = site.run(_steps, message_id)
    families = site.run(lambda: Notice.filter(message_id=message_id).count())
    portal = [s for s in steps if s["channel"] == Channel.PORTAL]
    alerting = [s for s in steps if s["channel"] != Channel.PORTAL]
    in_portal = len(portal)
    assert 0 < in_portal < families and {s["state"] for s in portal} == {DeliveryState.DELIVERED}
    without = families - in_portal  # no consent to electronic messages: paper only, and on Monday
    assert f"{without} familles n’ont pas de boîte dans le portail : elles ne reçoivent le message qu’à ce" in said
    assert len(alerting) == families and {s["state"] for s in alerting} == {DeliveryState.HELD}
    assert monday <= min(s["due_at"] for s in alerting) < monday + dt.timedelta(minutes=1)  # spread from 07:30
    assert {Channel.EMAIL, Channel.SMS} <= {Channel(s["channel"]) for s in alerting}

    # The guardian's portal lists it (and opens it) although the email to them waits for Monday.
    emailed = next(s for s in alerting if s["channel"] == Channel.EMAIL)
    site.login_guardian(emailed["notice__guardian_id"])
    inbox = site.client.get("/portal")
    assert inbox.status_code == 200 and "Sortie au musée" in inbox.text
    assert f'href="/portal/notices/{emailed["notice_id"]}"' in inbox.text
    assert site.client.get(f"/portal/notices/{emailed['notice_id']}").status_code == 200

    # The teacher's page: when it goes out, the same sentence as the preview, counts in families, never "en route".
    site.login_staff(PRINCIPAL)
    page = site.client.get(f"/staff/messages/{message_id}?sent=1").text
    status = _status(page)
    assert f"Programmé : part {_french_time(monday)}." in status
    assert promise in status
    assert "en route" not in _text(page)
    assert _cards(page) == {"delivered": 0, "sending": 0, "held": families, "failed": 0}
    assert page.count('data-state="held"') == min(families, 50)
    assert f"Retenu jusqu’au {monday.astimezone(BRUSSELS).day} " in page

    progress = site.client.get(f"/staff/messages/{message_id}/progress.json").json()
    assert progress["families"] | {"held_until": None} == {
        "families": families,
        "delivered": 0,
        "printed": 0,
        "sending": 0,
        "held": families,
        "failed": 0,
        "portal": 0,
        "done": 0,
        "in_portal": in_portal,
        "held_until": None,
        "phase": "held",
    }
    held_until = dt.datetime.fromisoformat(progress["families"]["held_until"])
    assert monday <= held_until < monday + dt.timedelta(minutes=1)
    assert _plain(progress["status"]) == [f"Programmé : part {_french_time(monday)}.", promise]
    assert {row["state"] for row in progress["rows"]} == {"held"}
    assert all(row["delivery"].startswith("Retenu jusqu’au ") for row in progress["rows"])


def test_the_held_message_page_speaks_dutch_and_english(at_saturday_night: dt.datetime, site: Site) -> None:
    message_id, _preview = _compose_and_send(site)
    dutch = _status(site.client.get(f"/staff/messages/{message_id}?lang=nl").text)
    assert dutch.startswith("Gepland: vertrekt ") and "Zichtbaar in het portaal zodra het verstuurd is" in dutch
    english = _status(site.client.get(f"/staff/messages/{message_id}?lang=en").text)
    monday = _opening_after(at_saturday_night).astimezone(BRUSSELS)
    assert english.startswith(f"Scheduled: goes out {long_date(monday.date(), 'en', weekday=True)}, 07:30.")
    assert "Visible in the portal as soon as it is sent; the notifications (email, SMS…) go out" in english


def test_when_the_charter_opens_the_held_families_are_being_sent_to(at_saturday_night: dt.datetime, site: Site) -> None:
    message_id, _preview = _compose_and_send(site)
    before = site.client.get(f"/staff/messages/{message_id}/progress.json").json()
    assert before["families"]["phase"] == "held"
    release = dt.datetime.fromisoformat(before["families"]["held_until"])

    running = clock.current()
    assert isinstance(running, clock.RunningClock)
    running.advance_to(release + dt.timedelta(minutes=45))  # past the release window's spread
    site.login_staff(PRINCIPAL)  # a day and a half later: a new session
    after = site.client.get(f"/staff/messages/{message_id}/progress.json").json()
    families = after["families"]["families"]
    assert after["families"]["phase"] == "sending" and after["families"]["sending"] == families
    assert after["status"][0] == "Le message est en route."
    site.run(due_deliveries, clock.now())  # what a worker's pass does first: held rows become due
    assert site.client.get(f"/staff/messages/{message_id}/progress.json").json()["families"]["sending"] == families


def test_the_report_tells_held_families_from_those_that_cannot_be_reached(
    at_saturday_night: dt.datetime, channels_site: Site
) -> None:
    site = channels_site
    message_id, _preview = _compose_and_send(site)
    families = site.run(lambda: Notice.filter(message_id=message_id).count())
    steps = [s for s in site.run(_steps, message_id) if s["channel"] != Channel.PORTAL]
    letters = [s for s in steps if s["channel"] == Channel.LETTER]
    held = families - len(letters)
    assert held > 0 and letters, "the demo class has families with email or SMS, and families on paper only"
    monday = _opening_after(at_saturday_night)

    # The email and SMS wait for Monday: counted apart, with their release time. The letters are held too, but
    # a letter rings nobody: the print queue has them now (hub.messaging.paper), so those families are the office's to
    # act.
    payload = site.client.get(f"/staff/report.json?message={message_id}").json()
    assert payload["not_reached"] == families
    by_reason = payload["not_reached_by_reason"]
    assert monday <= dt.datetime.fromisoformat(by_reason["held_until"]) < monday + dt.timedelta(minutes=1)
    assert by_reason | {"held_until": None} == {
        "held": held,
        "held_until": None,
        "sending": 0,
        "unreachable": len(letters),
        "letter_waiting": len(letters),
        "failed_everywhere": 0,
        "not_planned": 0,
    }
    (line,) = payload["held_messages"]
    assert line["message_id"] == message_id and line["families"] == held
    page = _text(site.client.get(f"/staff/report?message={message_id}").text)
    assert f"{held} familles sont retenues jusqu’à ce que la charte le permette" in page
    assert f"(les premiers départs : {_french_time(monday)})" in page
    assert page.count("Lettre à imprimer") == len(letters) and "Échec sur tous les canaux" not in page

    # One family's letter fails for good: that family cannot be reached on any channel.
    site.run(
        lambda: record_outcome(
            letters[0]["id"], now=clock.now(), ok=False, error="no address", error_kind=ErrorKind.PERMANENT
        )
    )
    after = site.client.get(f"/staff/report.json?message={message_id}").json()["not_reached_by_reason"]
    assert (after["held"], after["letter_waiting"], after["failed_everywhere"]) == (held, len(letters) - 1, 1)
    page = site.client.get(f"/staff/report?message={message_id}").text
    assert page.count('data-reason="failed_everywhere"') == 1 and "Échec sur tous les canaux" in page
    staff_page = site.client.get(f"/staff/messages/{message_id}").text
    assert _cards(staff_page) == {"delivered": 0, "sending": 0, "held": families - 1, "failed": 1}


def test_the_demo_weekend_report_counts_held_families_apart(at_saturday_night: dt.datetime, site: Site) -> None:
    """The user's report: some 900 held notices were listed as families not reached; now they are counted apart,
    and only the families someone has to act for (here, the letters to print) are listed."""
    from hub.demo.school import publish_demo_messages

    site.run(publish_demo_messages, clock.now())
    site.login_staff(PRINCIPAL)
    payload = site.client.get("/staff/report.json").json()
    by_reason = payload["not_reached_by_reason"]
    assert payload["not_reached"] > 800 and by_reason["held"] > 700
    assert by_reason["unreachable"] == by_reason["letter_waiting"] == payload["not_reached"] - by_reason["held"]
    page = site.client.get("/staff/report").text
    assert len(re.findall(r'<tr data-message="\d+">', page)) == 2
    listed = page.count('data-reason="letter_waiting"')
    assert listed == min(50, by_reason["unreachable"]) and 'data-reason="failed_everywhere"' not in page


# ------------------------------------------------------------------------------------------- school hours


def test_in_school_hours_the_same_message_is_on_its_way_then_delivered(
    at_school_hours: dt.datetime, channels_site: Site
) -> None:
    site = channels_site
    message_id, preview = _compose_and_send(site, author=TEACHER)
    assert "Immédiatement : les heures de la charte le permettent maintenant." in _text(preview)
    assert "Visible dans le portail dès l’envoi" not in _text(preview)

    steps = site.run(_steps, message_id)
    alerting = [s for s in steps if s["channel"] != Channel.PORTAL]
    families = len(alerting)
    assert {s["state"] for s in alerting} == {DeliveryState.DUE}

    page = site.client.get(f"/staff/messages/{message_id}?sent=1").text
    assert _status(page) == "Le message est en route."
    assert _cards(page) == {"delivered": 0, "sending": families, "held": 0, "failed": 0}
    assert "Programmé" not in page

    # The first family's email (or SMS) is delivered: its row and the counters say so.
    first = next(s for s in alerting if s["channel"] != Channel.LETTER)
    site.run(lambda: record_outcome(first["id"], now=clock.now(), ok=True))
    progress = site.client.get(f"/staff/messages/{message_id}/progress.json").json()
    assert (progress["families"]["delivered"], progress["families"]["sending"]) == (1, families - 1)
    row = next(r for r in progress["rows"] if r["notice_id"] == first["notice_id"])
    label = {"email": "E-mail", "sms": "SMS"}[first["channel"]]
    assert row["state"] == "delivered" and row["delivery"] == f"Atteint par {label}"
    page = site.client.get(f"/staff/messages/{message_id}").text
    assert f'<tr data-notice="{first["notice_id"]}" data-state="delivered">' in page

    # Everything goes out: the page says so, and the JSON poll stops finding anything moving.
    for step in alerting:
        if step is not first:
            site.run(lambda step=step: record_outcome(step["id"], now=clock.now(), ok=True, delivered=True))
    done = site.client.get(f"/staff/messages/{message_id}/progress.json").json()
    # a printed letter is "letter printed", never delivered (issue 14)
    letters = sum(1 for s in alerting if s["channel"] == Channel.LETTER)
    assert done["families"]["phase"] == "done" and done["families"]["delivered"] == families - letters
    assert done["families"]["printed"] == letters
    assert _plain(done["status"]) == ["Tout est parti : chaque famille a été atteinte."]
    assert _status(site.client.get(f"/staff/messages/{message_id}").text) == _plain(done["status"])[0]


def test_the_report_in_school_hours_counts_the_families_being_sent(
    at_school_hours: dt.datetime, channels_site: Site
) -> None:
    site = channels_site
    message_id, _preview = _compose_and_send(site)
    steps = site.run(_steps, message_id)
    letters = sum(1 for s in steps if s["channel"] == Channel.LETTER)
    electronic = sum(1 for s in steps if s["channel"] not in (Channel.PORTAL, Channel.LETTER))
    by_reason = site.client.get(f"/staff/report.json?message={message_id}").json()["not_reached_by_reason"]
    assert (by_reason["held"], by_reason["held_until"]) == (0, None)
    assert by_reason["sending"] == electronic > 0
    assert by_reason["letter_waiting"] == by_reason["unreachable"] == letters
    page = _text(site.client.get(f"/staff/report?message={message_id}").text)
    assert "Aucune famille n’est retenue en attendant la charte." in page
    assert f"{electronic} familles en cours d’envoi." in page


def test_the_family_rows_follow_the_page_asked_for(at_school_hours: dt.datetime, site: Site) -> None:
    site.login_staff(PRINCIPAL)
    message_id = _draft_id(_compose(site, _message_form(school="1")))
    _send(site, message_id)
    second = site.client.get(f"/staff/messages/{message_id}?page=2").text
    assert f'data-url="/staff/messages/{message_id}/progress.json?page=2"' in second
    shown = re.findall(r'<tr data-notice="(\d+)"', second)
    rows = site.client.get(f"/staff/messages/{message_id}/progress.json?page=2").json()["rows"]
    assert [str(r["notice_id"]) for r in rows] == shown and len(shown) == 50


# ------------------------------------------------------------------------------------------- the rule alone


def test_where_a_family_stands() -> None:
    """``composer.family_standing`` over a family's deliveries, in the order of the plan (no database)."""
    now = dt.datetime(2026, 12, 5, 22, 30, tzinfo=dt.UTC)
    monday = dt.datetime(2026, 12, 7, 6, 30, tzinfo=dt.UTC)

    def row(channel: str, state: str, due: dt.datetime = now, purpose: str = "initial") -> dict[str, Any]:
        return {"channel": Channel(channel), "state": DeliveryState(state), "due_at": due, "purpose": purpose}

    portal = row("portal", "delivered")
    assert family_standing([portal, row("email", "held", monday)], now) == Standing("held", held_until=monday)
    assert family_standing([portal, row("email", "held", monday)], monday) == Standing("sending")  # its time came
    assert family_standing([portal, row("email", "due")], now) == Standing("sending")
    assert family_standing([portal, row("email", "sent")], now) == Standing("delivered", channel=Channel.EMAIL)
    failed_then_sms = [portal, row("email", "failed"), row("sms", "delivered")]
    assert family_standing(failed_then_sms, now) == Standing("delivered", channel=Channel.SMS)
    waiting_fallback = [portal, row("email", "failed"), row("letter", "held", monday)]
    assert family_standing(waiting_fallback, now) == Standing("held", held_until=monday)
    assert family_standing([row("letter", "failed")], now) == Standing("failed")
    reminder = row("email", "planned", monday, purpose="reminder")  # about answering, not about reaching them
    assert family_standing([portal, row("email", "failed"), reminder], now) == Standing("failed")
    assert family_standing([portal, row("email", "cancelled")], now) == Standing("portal")  # acknowledged first
