"""Reply threads in the real app: a guardian writes from the portal or their personal link, the household reads
it, the other household and a teacher of another class never do, staff read and answer from their inbox."""

from __future__ import annotations

from html import unescape

import pytest

from channels.peers.smtp import Mailbox
from hub.enums import ContactKind
from hub.messaging.models import Notice, ThreadPost
from hub.people.models import Contact, Guardianship, Staff
from hub.web.kit import now
from hub.web.threads import POST_LIMIT
from tests.messaging.test_threads import SUBJECT, Family, separated_family
from tests.web.conftest import Site


@pytest.fixture
def family(site: Site) -> Family:
    found = site.run(separated_family, now())
    site.run(_give_passwords, [found.author_id, found.colleague_id, found.outsider_id])
    return found


async def _give_passwords(staff_ids: list[int]) -> None:
    """The demo password for these members of staff (only the demo accounts have one)."""
    demo = await Staff.filter(email__startswith="prof.demo@").first()
    assert demo is not None
    await Staff.filter(id__in=staff_ids).update(password_hash=demo.password_hash)


async def _email_of(staff_id: int) -> str:
    return (await Staff.get(id=staff_id)).email


async def _posts(notice_ids: list[int]) -> list[str]:
    return await ThreadPost.filter(notice_id__in=notice_ids).order_by("id").values_list("body", flat=True)


async def _token(notice_id: int) -> str:
    return (await Notice.get(id=notice_id)).token


def _text(html: str) -> str:
    return unescape(html)


def _login_staff(site: Site, staff_id: int) -> None:
    site.login_staff(site.run(_email_of, staff_id))


def test_a_guardian_writes_and_the_household_reads_it_the_other_household_does_not(site: Site, family: Family) -> None:
    first, second = family.home
    mine, theirs, other = (family.notices[g] for g in (first, second, family.other))
    site.login_guardian(first)
    page = f"/portal/notices/{mine}/reply"
    form = site.client.get(f"{page}?lang=en")
    assert form.status_code == 200
    assert "If you write now, the school will answer by" in form.text
    posted = site.post(page, {"body": "Notre fille sera absente ce jour-là.", "next": page}, form_page=page)
    assert posted.status_code == 303
    assert posted.headers["location"] == f"{page}?posted=1#thread"
    shown = site.client.get(posted.headers["location"])
    assert "Notre fille sera absente ce jour-là." in _text(shown.text)
    assert 'role="status"' in shown.text
    assert "The school will answer by" in shown.text

    site.login_guardian(second)
    assert "Notre fille sera absente ce jour-là." in _text(site.client.get(f"/portal/notices/{theirs}/reply").text)

    site.login_guardian(family.other)
    assert "Notre fille sera absente" not in _text(site.client.get(f"/portal/notices/{other}/reply").text)
    assert site.client.get(page).status_code == 404
    forged = site.post(page, {"body": "Je lis chez l'autre parent"}, form_page=f"/portal/notices/{other}/reply")
    assert forged.status_code == 404
    assert site.run(_posts, [mine, theirs, other]) == ["Notre fille sera absente ce jour-là."]


async def _bar(guardian_id: int) -> None:
    await Guardianship.filter(guardian_id=guardian_id).update(barred=True, barred_reason="Ordonnance du tribunal")


def test_a_guardian_barred_after_the_message_no_longer_reads_its_thread(site: Site, family: Family) -> None:
    """A court order made after the message went out: the thread is closed to that guardian, by page or link."""
    first = family.home[0]
    notice = family.notices[first]
    page = f"/portal/notices/{notice}/reply"
    token = site.run(_token, notice)
    site.login_guardian(first)
    assert site.client.get(page).status_code == 200
    site.run(_bar, first)
    assert site.client.get(page).status_code == 404
    assert site.post(page, {"body": "Encore moi"}, form_page="/portal").status_code == 404
    assert site.client.get(f"/n/{token}/reply").status_code == 404
    assert site.run(_posts, [notice]) == []


def test_the_next_page_never_leaves_the_site(site: Site, family: Family) -> None:
    first = family.home[0]
    page = f"/portal/notices/{family.notices[first]}/reply"
    site.login_guardian(first)
    posted = site.post(page, {"body": "Bonjour", "next": "//evil.example/"}, form_page=page)
    assert posted.headers["location"] == f"{page}?posted=1#thread"


def test_the_personal_link_is_the_credential(site: Site, family: Family) -> None:
    first = family.home[0]
    token = site.run(_token, family.notices[first])
    page = f"/n/{token}/reply"
    assert site.client.get(page).status_code == 200
    refused = site.post(page, {"body": "", "next": f"/n/{token}"}, form_page=page)
    assert refused.status_code == 400
    assert f'name="next" value="/n/{token}"' in refused.text  # corrected, it still goes back to the message
    posted = site.post(page, {"body": "Réponse depuis le lien"}, form_page=page)
    assert posted.status_code == 303 and posted.headers["location"] == f"{page}?posted=1#thread"
    assert "Réponse depuis le lien" in _text(site.client.get(page).text)
    assert site.client.get("/n/not-a-token/reply").status_code == 404
    assert site.post("/n/not-a-token/reply", {"body": "x"}, form_page=page).status_code == 404
    assert site.run(_posts, [family.notices[first]]) == ["Réponse depuis le lien"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("   ", "Your message is empty"),
        ("é" * 4001, "Your message is too long: 4000 characters at most, it has 4001."),
    ],
)
def test_an_empty_or_too_long_post_is_refused_with_its_text_kept(
    site: Site, family: Family, body: str, says: str
) -> None:
    first = family.home[0]
    page = f"/portal/notices/{family.notices[first]}/reply"
    site.login_guardian(first)
    refused = site.post(f"{page}?lang=en", {"body": body}, form_page=page)
    assert refused.status_code == 400
    assert says in _text(refused.text)
    assert 'role="alert"' in refused.text
    if body.strip():
        assert body in _text(refused.text)  # nothing typed is lost
    assert site.run(_posts, list(family.notices.values())) == []


def test_a_post_without_its_csrf_token_stores_nothing(site: Site, family: Family) -> None:
    first = family.home[0]
    notice = family.notices[first]
    site.login_guardian(first)
    refused = site.client.post(f"/portal/notices/{notice}/reply", data={"body": "Bonjour"}, follow_redirects=False)
    assert refused.status_code == 403
    token = site.run(_token, notice)
    site.logout()
    refused = site.client.post(f"/n/{token}/reply", data={"body": "Bonjour", "csrf_token": "forged"})
    assert refused.status_code == 403
    _login_staff(site, family.author_id)
    refused = site.client.post(f"/staff/inbox/{notice}", data={"body": "Réponse"}, follow_redirects=False)
    assert refused.status_code == 403
    assert site.run(_posts, list(family.notices.values())) == []


def test_staff_read_and_answer_from_their_inbox(site: Site, family: Family) -> None:
    first, second = family.home
    mine = family.notices[first]
    site.login_guardian(first)
    page = f"/portal/notices/{mine}/reply"
    site.post(page, {"body": "Peut-elle prendre son vélo ?"}, form_page=page)

    _login_staff(site, family.colleague_id)
    inbox = site.client.get("/staff/inbox?lang=en")
    assert inbox.status_code == 200
    assert SUBJECT in _text(inbox.text) and f'href="/staff/inbox/{mine}"' in inbox.text
    assert "1 unread" in inbox.text
    thread = site.client.get(f"/staff/inbox/{mine}")
    assert thread.status_code == 200 and "Peut-elle prendre son vélo ?" in _text(thread.text)
    assert "unread" not in site.client.get("/staff/inbox?lang=en").text.split("<tbody>")[1]  # opened: read
    empty = site.post(f"/staff/inbox/{mine}?lang=en", {"body": ""}, form_page=f"/staff/inbox/{mine}")
    assert empty.status_code == 400 and "Your message is empty" in empty.text
    answered = site.post(f"/staff/inbox/{mine}", {"body": "Oui, avec un casque."}, form_page=f"/staff/inbox/{mine}")
    assert answered.status_code == 303
    assert answered.headers["location"] == f"/staff/inbox/{mine}?posted=1#thread"

    site.login_guardian(second)
    assert "Oui, avec un casque." in _text(site.client.get(f"/portal/notices/{family.notices[second]}/reply").text)
    site.login_guardian(family.other)
    assert "Oui, avec un casque." not in _text(
        site.client.get(f"/portal/notices/{family.notices[family.other]}/reply").text
    )


def test_a_teacher_of_another_class_sees_nothing(site: Site, family: Family) -> None:
    first = family.home[0]
    mine = family.notices[first]
    site.login_guardian(first)
    page = f"/portal/notices/{mine}/reply"
    site.post(page, {"body": "Question privée"}, form_page=page)

    _login_staff(site, family.outsider_id)
    assert SUBJECT not in _text(site.client.get("/staff/inbox").text)
    assert site.client.get(f"/staff/inbox/{mine}").status_code == 404
    forged = site.post(f"/staff/inbox/{mine}", {"body": "Je réponds quand même"}, form_page="/staff/inbox")
    assert forged.status_code == 404
    assert site.run(_posts, [mine]) == ["Question privée"]


def test_the_pages_need_the_right_person(site: Site, family: Family) -> None:
    mine = family.notices[family.home[0]]
    assert site.client.get("/staff/inbox", follow_redirects=False).headers["location"].startswith("/login")
    assert (
        site.client.get(f"/portal/notices/{mine}/reply", follow_redirects=False)
        .headers["location"]
        .startswith("/signin")
    )
    site.login_guardian(family.home[0])
    assert site.client.get("/staff/inbox", follow_redirects=False).headers["location"].startswith("/login")


@pytest.mark.parametrize(
    ("lang", "words"),
    [("fr", "Écrire à l’école"), ("nl", "Schrijven naar de school"), ("en", "Write to the school")],
)
def test_the_thread_speaks_the_language_asked(site: Site, family: Family, lang: str, words: str) -> None:
    first = family.home[0]
    site.login_guardian(first)
    page = site.client.get(f"/portal/notices/{family.notices[first]}/reply?lang={lang}")
    assert words in _text(page.text)
    assert f'<html lang="{lang}">' in page.text


@pytest.mark.parametrize(("lang", "words"), [("fr", "Réponses des familles"), ("nl", "Antwoorden van gezinnen")])
def test_the_inbox_speaks_the_language_asked(site: Site, family: Family, lang: str, words: str) -> None:
    _login_staff(site, family.author_id)
    assert words in _text(site.client.get(f"/staff/inbox?lang={lang}").text)


def test_an_answer_by_email_only_ever_reaches_the_guardian_who_wrote(
    site_with_smtp: tuple[Site, Mailbox],
) -> None:
    """Whether it goes now depends on the clock (the charter's sending hours): where it goes does not."""
    site, mailbox = site_with_smtp
    family = site.run(separated_family, now())
    site.run(_give_passwords, [family.author_id])
    first = family.home[0]
    mine = family.notices[first]
    site.login_guardian(first)
    site.post(f"/portal/notices/{mine}/reply", {"body": "Question"}, form_page=f"/portal/notices/{mine}/reply")
    _login_staff(site, family.author_id)
    answered = site.post(f"/staff/inbox/{mine}", {"body": "Réponse"}, form_page=f"/staff/inbox/{mine}")
    assert answered.status_code == 303
    writer = set(site.run(_emails_of, first))
    assert all(str(mail["To"]) in writer for mail in mailbox.messages)


async def _emails_of(guardian_id: int) -> list[str]:
    return await Contact.filter(guardian_id=guardian_id, kind=ContactKind.EMAIL).values_list("value", flat=True)


def test_the_portals_message_page_shows_the_thread_and_its_form(site: Site, family: Family) -> None:
    first = family.home[0]
    mine = family.notices[first]
    message_page = f"/portal/notices/{mine}"
    site.login_guardian(first)
    page = site.client.get(f"{message_page}?lang=en")
    assert 'id="thread"' in page.text and f'action="/portal/notices/{mine}/reply"' in page.text
    posted = site.post(
        f"/portal/notices/{mine}/reply", {"body": "Depuis la page", "next": message_page}, form_page=message_page
    )
    assert posted.headers["location"] == f"{message_page}?posted=1#thread"
    shown = site.client.get(posted.headers["location"])
    assert "Depuis la page" in _text(shown.text) and "Your message is sent to the school." in shown.text


def test_a_flood_of_posts_is_slowed_down_and_the_text_kept(site: Site, family: Family) -> None:
    first = family.home[0]
    page = f"/portal/notices/{family.notices[first]}/reply"
    site.login_guardian(first)
    for n in range(POST_LIMIT):
        assert site.post(page, {"body": f"Message {n}"}, form_page=page).status_code == 303
    slowed = site.post(f"{page}?lang=en", {"body": "Encore un"}, form_page=page)
    assert slowed.status_code == 429
    assert "wait a little" in slowed.text and "Encore un" in slowed.text
    assert len(site.run(_posts, [family.notices[first]])) == POST_LIMIT
