"""Reply threads through the JSON API: a guardian reads and writes their household's thread, staff read their
inbox and answer, by the pages' rules (hub.messaging.threads): the other household of a separated family, another family
and a teacher of another class reach nothing, and a refused post stores nothing."""

from __future__ import annotations

from typing import Any

import pytest

from channels.peers.smtp import Mailbox
from hub.enums import ActorKind
from hub.messaging.models import Notice, ThreadPost
from hub.messaging.replies import MAX_LENGTH
from hub.people.models import Contact
from hub.store.audit import AuditEntry
from hub.web.kit import now
from hub.web.threads import POST_LIMIT
from tests.messaging.test_threads import SUBJECT, Family, separated_family
from tests.web.conftest import Site, mail_text
from tests.web.test_api import Api
from tests.web.test_threads import _email_of, _give_passwords

QUESTION = "Peut-elle prendre son vélo ?"


@pytest.fixture
def family(site: Site) -> Family:
    return _family(site)


def _family(site: Site) -> Family:
    found = site.run(separated_family, now())
    site.run(_give_passwords, [found.author_id, found.colleague_id, found.outsider_id])
    return found


def _staff(site: Site, staff_id: int) -> Api:
    return Api(site).sign_in_staff(site.run(_email_of, staff_id))


async def _stored() -> dict[str, Any]:
    """What a refused post must leave as it was (reading a thread as staff only marks posts read)."""
    return {
        "posts": await ThreadPost.all().order_by("id").values_list("id", "body"),
        "audit": await AuditEntry.exclude(action__endswith="login").exclude(action="thread.read").count(),
    }


def _bodies(thread: dict[str, Any]) -> list[str]:
    return [post["body"] for post in thread["posts"]]


async def _someone_else(family: Family) -> tuple[int, int]:
    """A notice of the same message held by another family of the class: (notice, its guardian)."""
    household = {*family.home, family.other}
    guardian_id, notice_id = next((g, n) for g, n in sorted(family.notices.items()) if g not in household)
    return notice_id, guardian_id


# ------------------------------------------------------------------------------------------------ guardians


def test_a_guardian_reads_and_writes_their_households_thread(site: Site, family: Family) -> None:
    first, second = family.home
    mine = family.notices[first]
    api = Api(site).sign_in_guardian(first)

    empty = api.get(f"/notices/{mine}/thread")
    assert empty.status_code == 200, empty.text
    thread = empty.json()
    assert thread["subject"] == SUBJECT and thread["posts"] == [] and thread["waiting_since"] is None
    assert thread["max_length"] == MAX_LENGTH and thread["answer_by"]

    posted = api.post(f"/notices/{mine}/thread", {"body": f"  {QUESTION}\r\n"})
    assert posted.status_code == 201, posted.text
    (post,) = posted.json()["posts"]
    assert post["body"] == QUESTION and not post["by_staff"] and post["channel"] == "portal"
    assert post["unread"] is None  # whether staff opened it is for staff to know, as on the pages
    assert posted.json()["waiting_since"] == post["at"]
    assert site.run(_stored)["posts"] == [(post["id"], QUESTION)]

    # The other adult of the household reads it on their own notice; the other household does not.
    api.sign_in_guardian(second)
    assert _bodies(api.get(f"/notices/{family.notices[second]}/thread").json()) == [QUESTION]
    api.sign_in_guardian(family.other)
    theirs = api.get(f"/notices/{family.notices[family.other]}/thread")
    assert theirs.status_code == 200 and theirs.json()["posts"] == []
    assert QUESTION not in theirs.text


def test_another_familys_thread_is_not_found_and_takes_nothing(site: Site, family: Family) -> None:
    first = family.home[0]
    api = Api(site).sign_in_guardian(first)
    stranger_notice, _stranger = site.run(_someone_else, family)
    other_household = family.notices[family.other]
    before = site.run(_stored)
    for notice in (stranger_notice, other_household, 10_000_000):
        read = api.get(f"/notices/{notice}/thread")
        assert read.status_code == 404 and read.json() == {"error": "not found"}
        written = api.post(f"/notices/{notice}/thread", {"body": "Je m'immisce"})
        assert written.status_code == 404 and written.json() == {"error": "not found"}
    assert site.run(_stored) == before
    assert api.get(f"/notices/{family.notices[first]}/thread").status_code == 200  # the 404s were about whose


def test_a_post_without_the_csrf_token_is_refused_and_stores_nothing(site: Site, family: Family) -> None:
    first = family.home[0]
    mine = family.notices[first]
    guardian = Api(site).sign_in_guardian(first)
    assert guardian.post(f"/notices/{mine}/thread", {"body": QUESTION}).status_code == 201
    before = site.run(_stored)
    for sign_in, path in (
        (lambda: Api(site).sign_in_guardian(first), f"/notices/{mine}/thread"),
        (lambda: _staff(site, family.author_id), f"/inbox/{mine}"),
    ):
        api = sign_in()
        missing = api.post(path, {"body": "Sans jeton"}, csrf=False)
        assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["error"]
        forged = site.client.post("/api/v1" + path, json={"body": "Faux jeton"}, headers={"X-CSRF-Token": "x"})
        assert forged.status_code == 403
        assert site.run(_stored) == before
        assert api.post(path, {"body": "Avec le jeton"}).status_code == 201  # the token was all that was missing
        before = site.run(_stored)


@pytest.mark.parametrize(
    ("text", "why"), [("", "empty"), (" \r\n\t ", "empty"), ("é" * (MAX_LENGTH + 1), f"{MAX_LENGTH} at most")]
)
def test_an_empty_or_too_long_post_is_refused_with_422(site: Site, family: Family, text: str, why: str) -> None:
    mine = family.notices[family.home[0]]
    before = site.run(_stored)
    guardian = Api(site).sign_in_guardian(family.home[0])
    refused = guardian.post(f"/notices/{mine}/thread", {"body": text})
    assert refused.status_code == 422, refused.text
    assert why in refused.json()["fields"]["body"]
    staff = _staff(site, family.author_id)
    refused = staff.post(f"/inbox/{mine}", {"body": text})
    assert refused.status_code == 422 and why in refused.json()["fields"]["body"]
    assert site.run(_stored) == before
    longest = guardian.sign_in_guardian(family.home[0]).post(f"/notices/{mine}/thread", {"body": "x" * MAX_LENGTH})
    assert longest.status_code == 201
    assert len(site.run(_stored)["posts"]) == 1  # the longest text taken is stored whole


def test_a_body_that_is_not_a_text_is_refused(site: Site, family: Family) -> None:
    mine = family.notices[family.home[0]]
    api = Api(site).sign_in_guardian(family.home[0])
    for body in ({"body": 12}, {"text": QUESTION}, {"body": QUESTION, "to": "everyone"}):
        assert api.post(f"/notices/{mine}/thread", body).status_code == 422
    as_form = site.client.post(
        f"/api/v1/notices/{mine}/thread", data={"body": QUESTION}, headers={"X-CSRF-Token": api.csrf}
    )
    assert as_form.status_code == 415
    assert site.run(_stored)["posts"] == []


def test_a_flood_of_posts_is_slowed_down_with_the_pages_counter(site: Site, family: Family) -> None:
    first = family.home[0]
    mine = family.notices[first]
    site.login_guardian(first)
    page = f"/portal/notices/{mine}/reply"
    for n in range(POST_LIMIT - 1):
        assert site.post(page, {"body": f"Message {n}"}, form_page=page).status_code == 303
    api = Api(site).sign_in_guardian(first)
    assert api.post(f"/notices/{mine}/thread", {"body": "Le dernier permis"}).status_code == 201
    slowed = api.post(f"/notices/{mine}/thread", {"body": "Un de trop"})
    assert slowed.status_code == 429 and str(POST_LIMIT) in slowed.json()["error"]
    assert "Un de trop" not in [body for _id, body in site.run(_stored)["posts"]]


# ---------------------------------------------------------------------------------------------------- staff


def test_staff_read_their_inbox_and_answer(site: Site, family: Family) -> None:
    first, second = family.home
    mine = family.notices[first]
    assert Api(site).sign_in_guardian(first).post(f"/notices/{mine}/thread", {"body": QUESTION}).status_code == 201

    colleague = _staff(site, family.colleague_id)  # teaches the class: follows the message
    (entry,) = [e for e in colleague.get("/inbox").json()["items"] if e["subject"] == SUBJECT]
    assert entry["notice_id"] == mine and entry["unread"] == 1 and not entry["answered"]
    opened = colleague.get(f"/inbox/{mine}")
    assert opened.status_code == 200
    assert [(p["body"], p["unread"]) for p in opened.json()["posts"]] == [(QUESTION, True)]  # still flagged new
    (entry,) = [e for e in colleague.get("/inbox").json()["items"] if e["subject"] == SUBJECT]
    assert entry["unread"] == 0  # opening it read it, as the page does

    answered = colleague.post(f"/inbox/{mine}", {"body": "Oui, avec un casque."})
    assert answered.status_code == 201, answered.text
    assert _bodies(answered.json()) == [QUESTION, "Oui, avec un casque."]
    assert answered.json()["posts"][-1]["by_staff"] and answered.json()["waiting_since"] is None
    (entry,) = [e for e in colleague.get("/inbox").json()["items"] if e["subject"] == SUBJECT]
    assert entry["answered"]

    guardian = Api(site).sign_in_guardian(second)
    assert _bodies(guardian.get(f"/notices/{family.notices[second]}/thread").json())[-1] == "Oui, avec un casque."
    guardian.sign_in_guardian(family.other)
    assert "Oui, avec un casque." not in guardian.get(f"/notices/{family.notices[family.other]}/thread").text


def test_a_teacher_of_another_class_sees_nothing_of_the_thread(site: Site, family: Family) -> None:
    mine = family.notices[family.home[0]]
    written = Api(site).sign_in_guardian(family.home[0]).post(f"/notices/{mine}/thread", {"body": "Privé"})
    assert written.status_code == 201
    principal = _staff(site, family.principal_id)
    assert mine in {e["notice_id"] for e in principal.get("/inbox").json()["items"]}  # the whole school's view

    outsider = _staff(site, family.outsider_id)
    before = site.run(_stored)
    listed = outsider.get("/inbox")
    assert listed.status_code == 200 and SUBJECT not in listed.text and "Privé" not in listed.text
    assert mine not in {e["notice_id"] for e in listed.json()["items"]}
    for response in (outsider.get(f"/inbox/{mine}"), outsider.post(f"/inbox/{mine}", {"body": "Je réponds"})):
        assert response.status_code == 404 and response.json() == {"error": "not found"}
    assert site.run(_stored) == before
    assert site.run(_unread, mine) == 1  # the outsider's attempt read nothing


async def _unread(notice_id: int) -> int:
    return await ThreadPost.filter(notice_id=notice_id, read_at__isnull=True).count()


def test_a_guardian_may_not_use_the_staff_inbox_nor_staff_a_guardians_thread(site: Site, family: Family) -> None:
    mine = family.notices[family.home[0]]
    guardian = Api(site).sign_in_guardian(family.home[0])
    assert guardian.get("/inbox").status_code == 403
    assert guardian.post(f"/inbox/{mine}", {"body": "Moi-même"}).status_code == 403
    staff = _staff(site, family.author_id)
    assert staff.get(f"/notices/{mine}/thread").status_code == 403
    assert site.run(_stored)["posts"] == []


# ------------------------------------------------------------------------------------------------- email


async def _announced(notice_id: int) -> list[bool]:
    rows = await ThreadPost.filter(notice_id=notice_id, author_kind=ActorKind.STAFF).values_list(
        "family_notified_at", flat=True
    )
    return [at is not None for at in rows]


async def _addresses(guardian_id: int) -> set[str]:
    return set(await Contact.filter(guardian_id=guardian_id).values_list("value", flat=True))


async def _token(notice_id: int) -> str:
    return (await Notice.get(id=notice_id)).token


def test_the_family_is_told_of_the_answer_as_the_page_does(site_with_smtp: tuple[Site, Mailbox]) -> None:
    """Whether it goes now depends on the clock (the charter's sending hours): if the answer was announced, the
    one mail went to the guardian who wrote, with their own link and not the answer's text."""
    site, mailbox = site_with_smtp
    family = _family(site)
    first = family.home[0]
    mine = family.notices[first]
    assert Api(site).sign_in_guardian(first).post(f"/notices/{mine}/thread", {"body": QUESTION}).status_code == 201
    answered = _staff(site, family.author_id).post(f"/inbox/{mine}", {"body": "Réponse confidentielle"})
    assert answered.status_code == 201
    (announced,) = site.run(_announced, mine)
    writer = site.run(_addresses, first)
    if not announced:
        assert mailbox.messages == []
        return
    assert mailbox.messages
    for mail in mailbox.messages:
        assert str(mail["To"]) in writer
        assert f"/n/{site.run(_token, mine)}/reply" in mail_text(mail)
        assert "Réponse confidentielle" not in mail_text(mail)
