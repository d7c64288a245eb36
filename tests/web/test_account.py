"""The guardian's account pages over the real app: contacts verified by a code that arrives by real SMTP, codes
that expire or run out of tries, another family's contact out of reach, phone numbers, quiet hours, consents
with their history, the password, the onboarding page, Telegram's link and the service worker."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from tortoise.models import Model

from channels.peers.smtp import Mailbox
from channels.peers.twilio import TwilioPeer
from channels.telegram import verify_link_code
from hub.config import Settings
from hub.demo.school import STAFF_DOMAIN
from hub.enums import ActorKind, ConsentPurpose, ContactKind, LinkPurpose
from hub.people import account, security
from hub.people.models import Consent, Contact, Guardian, VerificationCode, WebSession
from hub.store.audit import AuditEntry
from hub.web.kit import now
from tests.web.conftest import Site, _serve, mail_text

CHANNELS = "/portal/channels"


@pytest.fixture
def telegram_site(demo_db_url: str, tmp_path: Path) -> Iterator[Site]:
    """The app with Telegram configured (nothing is sent to it here: the page only makes the deep link)."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=demo_db_url,
        base_url="http://testserver",
        telegram_token="123456:" + "A" * 35,
        telegram_bot_username="carnet_test_bot",
        telegram_api_base="http://127.0.0.1:9",
        telegram_link_secret="s" * 40,
    )
    yield from _serve(settings)


@pytest.fixture
def sms_site(demo_db_url: str, tmp_path: Path) -> Iterator[tuple[Site, TwilioPeer]]:
    """The app with SMS configured towards the local Twilio-speaking peer (in a loop of its own)."""
    with start_blocking_portal() as portal:
        peer = portal.call(TwilioPeer(auth_token="t" * 32, account_sid="AC" + "0" * 32).start)
        settings = Settings(
            data_dir=tmp_path,
            database_url=demo_db_url,
            base_url="http://127.0.0.1:9",  # Twilio's status callbacks go nowhere here
            twilio_account_sid=peer.account_sid,
            twilio_auth_token=peer.auth_token,
            twilio_from="+32460201234",
            twilio_api_base=peer.base_url,
        )
        try:
            for site in _serve(settings):
                yield site, peer
        finally:
            portal.call(peer.stop)


async def _guardian_with_email(skip: int = 0) -> Guardian:
    """A demo guardian with a verified email (``skip`` picks another family)."""
    contacts = await Contact.filter(kind=ContactKind.EMAIL, verified=True, dead_at__isnull=True).order_by("id")
    seen: list[int] = []
    for contact in contacts:
        if contact.guardian_id not in seen:  # type: ignore[attr-defined]
            seen.append(contact.guardian_id)  # type: ignore[attr-defined]
    return await Guardian.get(id=seen[skip])


async def _contacts(guardian_id: int) -> list[tuple[str, str, bool]]:
    rows = await Contact.filter(guardian_id=guardian_id).order_by("id").values_list("kind", "value", "verified")
    return [(str(kind), value, verified) for kind, value, verified in rows]


def _get(site: Site, model: type[Model], **where: Any) -> Any:
    """One row, read in the app's loop."""
    return site.run(lambda: model.get(**where))


def _signed_in(site: Site, skip: int = 0) -> Guardian:
    guardian = site.run(_guardian_with_email, skip)
    site.login_guardian(guardian.id)
    return guardian


def _code_in(mailbox: Mailbox, address: str) -> str:
    received = mailbox.to(address)
    assert received, f"no mail to {address}"
    found = re.search(r"\b(\d{6})\b", mail_text(received[-1]))
    assert found, mail_text(received[-1])
    return found.group(1)


# ------------------------------------------------------------------------------------------------ the page


def test_the_page_needs_a_guardian_and_shows_my_contacts(site: Site) -> None:
    assert site.client.get(CHANNELS, follow_redirects=False).headers["location"] == "/signin?next=/portal/channels"
    site.login_staff(f"prof.demo@{STAFF_DOMAIN}")
    assert site.client.get(CHANNELS, follow_redirects=False).status_code == 303  # staff are not guardians

    guardian = _signed_in(site)
    page = site.client.get(CHANNELS)
    assert page.status_code == 200
    for _kind, value, _verified in site.run(_contacts, guardian.id):
        if _kind in ("email", "phone"):
            assert value in page.text
    assert "Mes consentements" in page.text and "hors de l’Union européenne" in page.text.replace("'", "’")
    assert "Mijn toestemmingen" in site.client.get(CHANNELS + "?lang=nl").text
    assert "My consents" in site.client.get(CHANNELS + "?lang=en").text


def test_adding_an_email_without_a_configured_channel_says_so_and_stores_nothing(site: Site) -> None:
    guardian = _signed_in(site)
    before = site.run(_contacts, guardian.id)
    page = site.post("/portal/contacts", {"kind": "email", "value": "new@example.be"}, form_page=CHANNELS)
    assert page.status_code == 400 and "ne peut donc pas être confirmé" in page.text
    bad = site.post("/portal/contacts", {"kind": "email", "value": "not an address"}, form_page=CHANNELS)
    assert bad.status_code == 400 and "adresse e-mail n’est pas valide" in bad.text.replace("'", "’")
    assert site.run(_contacts, guardian.id) == before


def test_a_form_without_its_csrf_token_stores_nothing(site: Site) -> None:
    guardian = _signed_in(site)
    before = site.run(_contacts, guardian.id)
    response = site.client.post("/portal/contacts", data={"kind": "email", "value": "x@example.be"})
    assert response.status_code == 403
    response = site.client.post("/portal/consents", data={"purpose": []})
    assert response.status_code == 403
    assert site.run(_contacts, guardian.id) == before
    assert site.run(Consent.filter(guardian_id=guardian.id, withdrawn_at__isnull=False).count) == 0


# ------------------------------------------------------------------------------------- codes by real SMTP


def test_a_new_email_is_verified_by_the_code_sent_to_it(site_with_smtp: tuple[Site, Mailbox]) -> None:
    site, mailbox = site_with_smtp
    guardian = _signed_in(site)
    typo = site.post("/portal/contacts", {"kind": "email", "value": "nouvelle@"}, form_page=CHANNELS)
    assert typo.status_code == 400 and 'value="nouvelle@"' in typo.text  # what was typed is kept
    response = site.post("/portal/contacts", {"kind": "email", "value": " Nouvelle@Example.BE "}, form_page=CHANNELS)
    assert response.status_code == 303
    verify_url = response.headers["location"]
    assert re.fullmatch(r"/portal/contacts/\d+/verify\?next=/portal/channels", verify_url)
    assert ("email", "nouvelle@example.be", False) in site.run(_contacts, guardian.id)
    code = _code_in(mailbox, "nouvelle@example.be")
    stored = site.run(VerificationCode.filter(guardian_id=guardian.id).first)
    assert stored.code_hash != code and len(stored.code_hash) == 64  # only the SHA-256 is kept

    page = site.client.get(verify_url)
    assert page.status_code == 200 and "nouvelle@example.be" in page.text
    wrong = "000000" if code != "000000" else "111111"
    refused = site.post(verify_url, {"code": wrong}, form_page=verify_url)
    assert refused.status_code == 400 and "4 essais" in refused.text
    assert _get(site, VerificationCode, id=stored.id).attempts == 1
    assert ("email", "nouvelle@example.be", False) in site.run(_contacts, guardian.id)

    accepted = site.post(verify_url, {"code": f"{code[:3]} {code[3:]}"}, form_page=verify_url)
    assert accepted.status_code == 303 and accepted.headers["location"] == "/portal/channels?done=verified"
    assert ("email", "nouvelle@example.be", True) in site.run(_contacts, guardian.id)
    assert site.run(AuditEntry.filter(action="contact.verified", actor_id=guardian.id).count) == 1
    again = site.post(verify_url, {"code": code}, form_page=CHANNELS)  # used: the contact is already confirmed
    assert again.status_code == 303


def test_five_wrong_codes_need_a_new_code(site_with_smtp: tuple[Site, Mailbox]) -> None:
    site, mailbox = site_with_smtp
    _signed_in(site)
    verify_url = site.post("/portal/contacts", {"kind": "email", "value": "five@example.be"}, form_page=CHANNELS)
    verify_url = verify_url.headers["location"]
    code = _code_in(mailbox, "five@example.be")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        site.post(verify_url, {"code": wrong}, form_page=verify_url)
    late = site.post(verify_url, {"code": code}, form_page=verify_url)
    assert late.status_code == 400 and "Demandez un nouveau code" in late.text
    assert _get(site, Contact, value="five@example.be").verified is False

    contact_id = int(verify_url.split("/")[3])
    resent = site.post(f"/portal/contacts/{contact_id}/resend", {"next": CHANNELS}, form_page=verify_url)
    assert resent.status_code == 303 and "sent=1" in resent.headers["location"]
    fresh = _code_in(mailbox, "five@example.be")
    ok = site.post(verify_url, {"code": fresh}, form_page=verify_url)
    assert ok.status_code == 303
    assert _get(site, Contact, value="five@example.be").verified is True


def test_an_expired_code_is_refused(site_with_smtp: tuple[Site, Mailbox]) -> None:
    site, _mailbox = site_with_smtp
    guardian = _signed_in(site)
    contact = site.run(account.add_contact, guardian.id, ContactKind.EMAIL, "late@example.be", now())
    code = site.run(account.issue_code, guardian.id, contact.id, now() - dt.timedelta(minutes=16))
    verify_url = f"/portal/contacts/{contact.id}/verify"
    page = site.post(verify_url, {"code": code}, form_page=verify_url)
    assert page.status_code == 400 and "15 minutes" in page.text
    assert _get(site, Contact, id=contact.id).verified is False


def test_another_familys_contact_is_out_of_reach(site_with_smtp: tuple[Site, Mailbox]) -> None:
    site, mailbox = site_with_smtp
    other = site.run(_guardian_with_email, 1)
    theirs = site.run(account.add_contact, other.id, ContactKind.EMAIL, "theirs@example.be", now())
    code = site.run(account.issue_code, other.id, theirs.id, now())
    their_verified = site.run(Contact.filter(guardian_id=other.id, verified=True).first)
    _signed_in(site, 0)
    for path in (f"/portal/contacts/{theirs.id}/verify", f"/portal/contacts/{their_verified.id}/verify"):
        assert site.client.get(path).status_code == 404
        assert site.post(path, {"code": code}, form_page=CHANNELS).status_code == 404
    for contact in (theirs, their_verified):
        assert site.post(f"/portal/contacts/{contact.id}/remove", form_page=CHANNELS).status_code == 404
        assert site.post(f"/portal/contacts/{contact.id}/resend", form_page=CHANNELS).status_code == 404
    assert _get(site, Contact, id=theirs.id).verified is False
    assert site.run(Contact.filter(id=their_verified.id).exists)
    assert _get(site, VerificationCode, contact_id=theirs.id).attempts == 0
    assert mailbox.to("theirs@example.be") == []


def test_removing_my_contact(site: Site) -> None:
    guardian = _signed_in(site)
    mine = site.run(Contact.filter(guardian_id=guardian.id).first)
    response = site.post(f"/portal/contacts/{mine.id}/remove", {"next": CHANNELS}, form_page=CHANNELS)
    assert response.status_code == 303 and response.headers["location"] == "/portal/channels?done=removed"
    assert not site.run(Contact.filter(id=mine.id).exists)
    assert site.run(AuditEntry.filter(action="contact.removed", subject_id=str(mine.id)).count) == 1


# ---------------------------------------------------------------------------------------------- phones


def test_phone_numbers_are_normalised_and_wrong_ones_explained() -> None:
    assert account.normalise_phone("0470 12 34 56") == "+32470123456"
    assert account.normalise_phone("+33 6 12 34 56 78") == "+33612345678"
    for raw, code in (("hello", "phone_unreadable"), ("0470 12", "phone_invalid"), ("+32 1", "phone_unreadable")):
        try:
            account.normalise_phone(raw)
        except account.AccountError as exc:
            assert exc.code == code, raw
        else:
            raise AssertionError(f"{raw!r} was accepted")


def test_a_wrong_phone_number_is_refused_with_a_clear_error(site: Site) -> None:
    guardian = _signed_in(site)
    before = site.run(_contacts, guardian.id)
    page = site.post("/portal/contacts", {"kind": "phone", "value": "0470 12"}, form_page=CHANNELS)
    assert page.status_code == 400 and "Ce numéro n’existe pas" in page.text.replace("'", "’")
    assert site.run(_contacts, guardian.id) == before


def test_a_new_mobile_number_is_verified_by_a_code_sent_by_sms(sms_site: tuple[Site, TwilioPeer]) -> None:
    site, peer = sms_site
    guardian = _signed_in(site)
    response = site.post("/portal/contacts", {"kind": "phone", "value": "0470 99 88 77"}, form_page=CHANNELS)
    assert response.status_code == 303
    assert ("phone", "+32470998877", False) in site.run(_contacts, guardian.id)
    texts = peer.to("+32470998877")
    assert len(texts) == 1
    code = re.search(r"\b(\d{6})\b", texts[0].body)
    assert code, texts[0].body
    verify_url = response.headers["location"]
    assert site.post(verify_url, {"code": code.group(1)}, form_page=verify_url).status_code == 303
    assert ("phone", "+32470998877", True) in site.run(_contacts, guardian.id)


# --------------------------------------------------------------------------------------- quiet hours page


def test_quiet_hours_are_saved_and_bad_ones_refused(site: Site) -> None:
    guardian = _signed_in(site)
    saved = site.post("/portal/quiet-hours", {"quiet_from": "21:30", "quiet_until": "07:00"}, form_page=CHANNELS)
    assert saved.status_code == 303
    stored = _get(site, Guardian, id=guardian.id)
    assert (stored.quiet_from.strftime("%H:%M"), stored.quiet_until.strftime("%H:%M")) == ("21:30", "07:00")
    assert 'value="21:30"' in site.client.get(CHANNELS).text

    for start, end in (("21:30", ""), ("25:00", "07:00"), ("08:00", "08:00")):
        refused = site.post("/portal/quiet-hours", {"quiet_from": start, "quiet_until": end}, form_page=CHANNELS)
        assert refused.status_code == 400 and 'role="alert"' in refused.text
    stored = _get(site, Guardian, id=guardian.id)
    assert stored.quiet_from.strftime("%H:%M") == "21:30"  # nothing lost

    site.post("/portal/quiet-hours", {"quiet_from": "", "quiet_until": ""}, form_page=CHANNELS)
    assert _get(site, Guardian, id=guardian.id).quiet_from is None


# ------------------------------------------------------------------------------------------------ consents


def test_consents_are_withdrawn_and_given_again_as_dated_history(site: Site) -> None:
    guardian = _signed_in(site)

    async def live() -> set[str]:
        rows = await Consent.filter(guardian_id=guardian.id, withdrawn_at__isnull=True).values_list("purpose")
        return {str(purpose) for (purpose,) in rows}

    before = site.run(live)
    assert "school_messages" in before
    kept = sorted(before - {"channel_email"})
    assert site.post("/portal/consents", {"purpose": kept}, form_page=CHANNELS).status_code == 303
    assert site.run(live) == set(kept)
    site.post("/portal/consents", {"purpose": [*kept, "channel_email", "not-a-purpose"]}, form_page=CHANNELS)
    assert site.run(live) == set(kept) | {"channel_email"}

    history = site.run(account.consent_states, guardian.id)
    email = next(state for state in history if state.purpose == ConsentPurpose.EMAIL)
    assert email.given and len(email.history) >= 2
    assert email.history[-2].withdrawn_at is not None and email.history[-1].withdrawn_at is None
    assert site.run(AuditEntry.filter(action="consent.withdrawn", subject_id=str(guardian.id)).count) == 1
    page = site.client.get(CHANNELS)
    assert "retiré le" in page.text


# ------------------------------------------------------------------------------------- password, onboarding


def test_setting_a_password_ends_my_other_sessions(site: Site) -> None:
    guardian = _signed_in(site)
    elsewhere = site.run(security.start_session, ActorKind.GUARDIAN, guardian.id, now())
    short = site.post("/portal/password", {"password": "short", "confirm": "short"}, form_page="/portal/password")
    assert short.status_code == 400 and "10 caractères" in short.text
    differ = site.post(
        "/portal/password", {"password": "une phrase longue", "confirm": "autre phrase"}, form_page="/portal/password"
    )
    assert differ.status_code == 400
    assert _get(site, Guardian, id=guardian.id).password_hash == ""

    done = site.post(
        "/portal/password",
        {"password": "cheval agrafe pile", "confirm": "cheval agrafe pile"},
        form_page="/portal/password",
    )
    assert done.status_code == 303
    assert site.run(security.find_session, elsewhere.token, now()) is None  # the other browser is signed out
    assert site.client.get("/portal/password").status_code == 200  # this one is not
    email = site.run(Contact.filter(guardian_id=guardian.id, kind=ContactKind.EMAIL, verified=True).first).value
    site.client.cookies.clear()
    signed = site.post("/signin", {"email": email, "password": "cheval agrafe pile"}, form_page="/signin")
    assert signed.status_code == 303


def test_the_welcome_letter_link_opens_onboarding_and_confirming_is_recorded(site: Site) -> None:
    guardian = site.run(_guardian_with_email, 2)
    site.run(lambda: Guardian.filter(id=guardian.id).update(onboarded_at=None))
    site.client.cookies.clear()
    token = site.run(security.create_sign_in_link, guardian.id, now(), LinkPurpose.ONBOARDING)
    landed = site.post(f"/s/{token}", form_page=f"/s/{token}")
    assert landed.headers["location"] == "/portal/onboarding"
    page = site.client.get("/portal/onboarding")
    assert page.status_code == 200 and "Bienvenue" in page.text

    response = site.post(
        "/portal/onboarding",
        {"purpose": ["school_messages", "channel_email"], "enabled": ["email"]},
        form_page="/portal/onboarding",
    )
    assert response.status_code == 303
    assert _get(site, Guardian, id=guardian.id).onboarded_at is not None
    assert site.run(AuditEntry.filter(action="guardian.onboarded", actor_id=guardian.id).count) == 1
    assert "Bedankt" in site.client.get("/portal/onboarding?lang=nl").text
    assert site.run(WebSession.filter(guardian_id=guardian.id, revoked_at__isnull=True).count) == 1


def test_the_service_worker_is_served_from_the_root(site: Site) -> None:
    response = site.client.get("/sw.js")
    assert response.status_code == 200 and "javascript" in response.headers["content-type"]
    assert "notificationclick" in response.text and "showNotification" in response.text


def test_telegram_is_offered_only_when_configured(site: Site) -> None:
    _signed_in(site)
    assert "/portal/telegram" not in site.client.get(CHANNELS).text
    assert site.post("/portal/telegram", form_page=CHANNELS).status_code == 404


def test_telegram_link(telegram_site: Site) -> None:
    guardian = _signed_in(telegram_site)
    assert "/portal/telegram" in telegram_site.client.get(CHANNELS).text
    page = telegram_site.post("/portal/telegram", form_page=CHANNELS)
    assert page.status_code == 200
    found = re.search(r"https://t\.me/carnet_test_bot\?start=([A-Za-z0-9_-]{40})", page.text)
    assert found, page.text
    assert verify_link_code(found.group(1), telegram_site.settings.telegram_link_secret, now()) == guardian.id
