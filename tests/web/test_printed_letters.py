"""Issue 14: a printed letter counts as "letter printed", never delivered ("Remis"), on the composer's message page,
its live JSON and the message list, as the delivery report already counts it."""

from __future__ import annotations

import datetime as dt
import re

from hub.enums import Channel, DeliveryPurpose, DeliveryState
from hub.messaging import composer
from hub.messaging.composer import Standing, family_standing
from hub.messaging.models import Delivery, Notice
from tests.web.conftest import Site
from tests.web.test_held_state import _cards, _compose_and_send, _text

NOW = dt.datetime(2026, 12, 8, 9, 0, tzinfo=dt.UTC)


def _row(channel: Channel, state: DeliveryState) -> dict[str, object]:
    return {"channel": channel, "state": state, "due_at": NOW, "purpose": DeliveryPurpose.INITIAL}


def test_a_family_reached_only_by_a_printed_letter_stands_as_printed() -> None:
    letter = _row(Channel.LETTER, DeliveryState.DELIVERED)
    assert family_standing([letter], NOW) == Standing("printed", channel=Channel.LETTER)
    email = _row(Channel.EMAIL, DeliveryState.SENT)
    assert family_standing([email, letter], NOW) == Standing("delivered", channel=Channel.EMAIL)
    assert family_standing([letter, email], NOW) == Standing("delivered", channel=Channel.EMAIL)
    assert family_standing([_row(Channel.LETTER, DeliveryState.HELD)], NOW - dt.timedelta(hours=1)).state == "held"


async def _print_the_letters(message_id: int) -> int:
    """What the office's printing does to a message's letters: DELIVERED on the letter channel. Returns the number
    of families that nothing else reached."""
    await Delivery.filter(notice__message_id=message_id, channel=Channel.LETTER).update(state=DeliveryState.DELIVERED)
    lettered = set(
        await Delivery.filter(notice__message_id=message_id, channel=Channel.LETTER).values_list("notice_id", flat=True)
    )
    others = set(
        await Delivery.filter(notice__message_id=message_id, state__in=[DeliveryState.SENT, DeliveryState.DELIVERED])
        .exclude(channel__in=[Channel.LETTER, Channel.PORTAL])
        .values_list("notice_id", flat=True)
    )
    return len(lettered - others)


def test_printed_letters_are_letters_printed_on_the_message_page_and_list(site: Site) -> None:
    message_id, _ = _compose_and_send(site)
    printed = site.run(_print_the_letters, message_id)
    assert printed > 0, "the demo class has families reached only on paper"
    counts = site.run(composer.counts_of, [message_id])[message_id]
    assert (counts.printed, counts.delivered) == (printed, 0)
    families = site.run(lambda: Notice.filter(message_id=message_id).count())

    page = site.client.get(f"/staff/messages/{message_id}?lang=en")
    assert page.status_code == 200
    cards = _cards(page.text)
    assert cards["printed"] == printed and cards["delivered"] == 0
    live = site.client.get(f"/staff/messages/{message_id}/progress.json?lang=en").json()
    assert live["families"]["printed"] == printed and live["families"]["delivered"] == 0
    on_paper = sum(1 for row in live["rows"] if row["delivery"] == "Letter printed")
    assert on_paper == min(printed, len(live["rows"])) and len(live["rows"]) <= families
    assert _text(page.text).count("Letter printed") == on_paper

    french = site.client.get(f"/staff/messages/{message_id}?lang=fr")
    assert "Atteint par" not in french.text and "Lettre imprimée" in _text(french.text)
    listing = _text(site.client.get("/staff/messages?lang=en").text)
    assert re.search(rf"\+ {printed} letters? printed", listing)
    listing_fr = _text(site.client.get("/staff/messages?lang=fr").text)
    assert re.search(rf"\+ {printed} lettres? imprimées?", listing_fr)
