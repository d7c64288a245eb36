"""The composer's hints: the SMS preview names the character forcing UCS-2 and halves the cost once its GSM-7 form
is applied (one click, a plain form); the estimate of how long a send takes is the configured limits' arithmetic,
before sending and on the message's page as it drains, and the workers' limits keep to it."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from hub.config import Settings
from hub.delivery import drain
from hub.delivery.worker import Limits
from hub.enums import Channel
from hub.messaging.models import Message
from hub.messaging.routing import DEFAULT_SMS_PRICE
from hub.messaging.sms_hints import ucs2_hint
from hub.store.audit import AuditEntry
from tests.web.conftest import Site, _serve
from tests.web.test_compose import PRINCIPAL, _compose, _draft_id, _message_form, _send, _taught_class
from tests.web.test_compose_preview import _SMS_ROW, _first_steps

SUBJECT = "Fermeture d’école"  # the typographic apostrophe: UCS-2


@pytest.fixture
def rated_site(demo_db_url: str, tmp_path: Path) -> Iterator[Site]:
    """Email and SMS configured (nothing sent: no worker runs), the SMS provider limited to 2 messages a second."""
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
        send_rates=(("sms", 2.0),),
    )
    yield from _serve(settings)


def test_the_hint_names_the_character_and_the_gsm7_form_halves_the_segments() -> None:
    text = f"[Athénée royal] URGENCE {SUBJECT} - ouvrir : http://testserver/n/{'x' * 32}"
    hint = ucs2_hint(text, 10)
    assert hint is not None
    assert [(c.char, c.name, c.replacement) for c in hint.characters] == [("’", "RIGHT SINGLE QUOTATION MARK", "'")]
    assert (hint.before.segments, hint.after.segments) == (2, 1) and hint.saves
    assert hint.cost_after * 2 == hint.cost_before
    assert ucs2_hint(text.replace("’", "'"), 10) is None  # GSM-7 already: no hint
    emoji = ucs2_hint("Fête 🎉", 1)
    assert emoji is not None and [c.replacement for c in emoji.characters] == ["e", ""]


def test_the_preview_offers_the_gsm7_form_and_one_click_halves_the_cost(rated_site: Site) -> None:
    site = rated_site
    site.login_staff(PRINCIPAL)
    group = site.run(_taught_class)
    form = _message_form(group=str(group), urgency="emergency", urgency_reason="Tempête", subject=SUBJECT)
    message_id = _draft_id(_compose(site, form))
    page = site.client.get(f"/staff/compose/{message_id}/preview").text
    assert '<code class="char" title="RIGHT SINGLE QUOTATION MARK">’</code>' in page
    before = {lang: (int(n), int(seg), cost) for lang, n, seg, cost in _SMS_ROW.findall(page)}
    assert before["Français"][1] == 2
    assert f'action="/staff/compose/{message_id}/gsm7"' in page

    assert (
        site.post(f"/staff/compose/{message_id}/gsm7", form_page=f"/staff/compose/{message_id}/preview").status_code
        == 303
    )
    assert site.run(lambda: Message.get(id=message_id)).subject == "Fermeture d'école"  # type: ignore[attr-defined]
    assert site.run(lambda: AuditEntry.filter(action="message.gsm7_applied").count()) == 1
    page = site.client.get(f"/staff/compose/{message_id}/preview").text
    after = {lang: (int(n), int(seg), cost) for lang, n, seg, cost in _SMS_ROW.findall(page)}
    assert after["Français"][1] == 1 and 'class="char"' not in page
    assert after.keys() == before.keys()
    for lang in after:  # every language's SMS carries the subject: each costs half
        assert after[lang][0] == before[lang][0] and after[lang][1] * 2 == before[lang][1], (lang, before, after)
        recipients = after[lang][0]
        for row, segments in ((before, 2), (after, 1)):  # the price of each segment, rounded to the cent as shown
            expected = (recipients * segments * DEFAULT_SMS_PRICE).quantize(Decimal("0.01"))
            assert Decimal(row[lang][2].replace(",", ".")) == expected


def test_another_members_draft_cannot_be_rewritten(rated_site: Site) -> None:
    site = rated_site
    site.login_staff(PRINCIPAL)
    message_id = _draft_id(_compose(site, _message_form(school="1", subject=SUBJECT)))
    site.login_staff(f"prof.demo@{PRINCIPAL.split('@')[1]}")
    response = site.post(f"/staff/compose/{message_id}/gsm7", form_page="/staff/compose")
    assert response.status_code == 404
    assert site.run(lambda: Message.get(id=message_id)).subject == SUBJECT  # type: ignore[attr-defined]


def test_the_estimate_is_the_limits_arithmetic() -> None:
    rates = drain.configured_rates(Settings.from_env({"CARNET_SEND_RATES": "sms=2.5, telegram=20"}))
    assert rates[Channel.SMS] == 2.5 and rates[Channel.TELEGRAM] == 20
    found = {d.channel: d for d in drain.estimate({Channel.SMS: 250, Channel.TELEGRAM: 45, Channel.LETTER: 9}, rates)}
    assert found[Channel.SMS].seconds == 125  # floor(2.5) = 2 a second, the workers' window
    assert found[Channel.TELEGRAM].seconds == 3 and Channel.LETTER not in found
    email = drain.estimate({Channel.EMAIL: 100}, rates)[0]
    assert email.seconds == math.ceil(100 / (4 / drain.EMAIL_SECONDS_PER_MESSAGE))
    with pytest.raises(ValueError, match="CARNET_SEND_RATES"):
        Settings.from_env({"CARNET_SEND_RATES": "sms=fast"})


async def test_the_workers_limits_drain_no_faster_than_the_estimate() -> None:
    rates = {Channel.SMS: 10.0}
    (estimate,) = drain.estimate({Channel.SMS: 30}, rates)
    limits = Limits(rates=rates, connections={})
    started = time.monotonic()
    for _ in range(30):
        await limits.acquire(Channel.SMS)
    took = time.monotonic() - started
    # the burst of the first second, then 10 a second: done within the estimate, and not a second sooner
    assert estimate.seconds - 1.2 <= took <= estimate.seconds + 0.5, (took, estimate)
    await asyncio.sleep(0)


def test_the_preview_and_the_message_page_estimate_from_the_configured_limits(rated_site: Site) -> None:
    site = rated_site
    site.login_staff(PRINCIPAL)
    group = site.run(_taught_class)
    form = _message_form(group=str(group), urgency="emergency", urgency_reason="Tempête", subject="Fermeture")
    message_id = _draft_id(_compose(site, form))
    page = site.client.get(f"/staff/compose/{message_id}/preview").text
    sms_families = sum(int(n) for _lang, n, _seg, _cost in _SMS_ROW.findall(page))
    shown = re.search(r'<tr data-channel="sms" data-seconds="(\d+)">', page)
    assert shown and int(shown.group(1)) == math.ceil(sms_families / 2)

    assert _send(site, message_id).status_code == 303
    waiting = site.run(_first_steps, message_id)[Channel.SMS]
    page = site.client.get(f"/staff/messages/{message_id}").text
    shown = re.search(r'<tr data-channel="sms" data-seconds="(\d+)">', page)
    assert shown and int(shown.group(1)) == math.ceil(waiting / 2)
    progress = site.client.get(f"/staff/messages/{message_id}/progress.json").json()
    assert progress["drain_seconds"] >= math.ceil(waiting / 2)


def test_a_translation_service_set_in_part_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="CARNET_DEEPL_AUTH_KEY"):
        Settings.from_env({"CARNET_TRANSLATION": "deepl"})
    with pytest.raises(ValueError, match="CARNET_TRANSLATION"):
        Settings.from_env({"CARNET_TRANSLATION": "google"})
    assert Settings.from_env({}).translation == ""
    on = Settings.from_env({"CARNET_TRANSLATION": "libretranslate", "CARNET_LIBRETRANSLATE_URL": "http://127.0.0.1:1"})
    assert on.translation == "libretranslate"
