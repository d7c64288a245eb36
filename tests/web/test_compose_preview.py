"""The preview tells the truth: with email and SMS configured, the families it counts per first channel are the
deliveries ``planning.publish`` then creates, and its SMS estimate is segments times recipients times the price."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from hub.config import Settings
from hub.enums import Channel, DeliveryPurpose
from hub.messaging.models import Delivery
from hub.messaging.routing import DEFAULT_SMS_PRICE
from hub.messaging.sms_segments import count_segments
from tests.web.conftest import Site, _serve
from tests.web.test_compose import PRINCIPAL, _compose, _draft_id, _message_form, _send, _taught_class

_ROW = re.compile(r'<tr><td>([^<]+)</td><td class="num">(\d+)</td></tr>')
_SMS_ROW = re.compile(
    r'<tr><td>(Français|Néerlandais|Anglais)</td><td class="num">(\d+)</td><td class="num">(\d+)</td>'
    r'<td class="num">([\d,]+)\xa0€</td></tr>'
)
_LABELS = {"E-mail": Channel.EMAIL, "SMS": Channel.SMS, "Lettre imprimée": Channel.LETTER}


@pytest.fixture
def sms_site(demo_db_url: str, tmp_path: Path) -> Iterator[Site]:
    """The app with email and SMS configured (nothing is sent in these tests: the worker does not run)."""
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


async def _first_steps(message_id: int) -> dict[Channel, int]:
    rows = (
        await Delivery.filter(notice__message_id=message_id, purpose=DeliveryPurpose.INITIAL)
        .exclude(channel=Channel.PORTAL)
        .values_list("channel", flat=True)
    )
    found: dict[Channel, int] = {}
    for channel in rows:
        found[Channel(channel)] = found.get(Channel(channel), 0) + 1
    return found


def test_the_preview_counts_what_publishing_then_plans(sms_site: Site) -> None:
    site = sms_site
    site.login_staff(PRINCIPAL)
    group = site.run(_taught_class)
    form = _message_form(group=str(group), urgency="emergency", urgency_reason="Alerte tempête", subject="Fermeture")
    message_id = _draft_id(_compose(site, form))
    page = site.client.get(f"/staff/compose/{message_id}/preview").text

    planned = {_LABELS[label]: int(n) for label, n in _ROW.findall(page) if label in _LABELS}
    assert planned.get(Channel.SMS), "an emergency goes by SMS first to the families who consented"
    assert "Immédiatement\u202f: une urgence grave ignore les heures de la charte." in page  # French typography

    sms_rows = _SMS_ROW.findall(page)
    assert sum(int(n) for _lang, n, _seg, _cost in sms_rows) == planned[Channel.SMS]
    for _lang, recipients, segments, cost in sms_rows:
        assert Decimal(cost.replace(",", ".")) == (int(recipients) * int(segments) * DEFAULT_SMS_PRICE).quantize(
            Decimal("0.01")
        )
    sms_text = re.search(r'<pre class="sms">([^<]+)</pre>', page)
    assert sms_text and "] URGENCE Fermeture - ouvrir : http://testserver/n/" in sms_text.group(1)
    french = next(row for row in sms_rows if row[0] == "Français")
    assert int(french[2]) == count_segments(sms_text.group(1)).segments

    assert _send(site, message_id).status_code == 303
    assert site.run(_first_steps, message_id) == planned
