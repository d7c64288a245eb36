"""Following what was sent: the counts of the list and the message page as deliveries move (through
``planning.record_outcome``, as a worker records them), acknowledgements and answers, and the pages of a
whole-school message."""

from __future__ import annotations

import datetime as dt
import re

from hub import clock
from hub.enums import Channel, DeliveryPurpose, ErrorKind
from hub.messaging.models import Delivery, Notice, NoticePupil
from hub.messaging.planning import record_acknowledgement, record_answer, record_outcome
from tests.web.conftest import Site
from tests.web.test_compose import (
    PRINCIPAL,
    _compose,
    _draft_id,
    _message_form,
    _send,
    _slip_fields,
    _taught_class,
)


async def _move_some(message_id: int) -> int:
    """Deliver the first family's letter, fail the second's permanently (the next step follows), acknowledge the
    third and let the fourth answer the slip. Returns the number of families."""
    now = clock.now()
    notices = await Notice.filter(message_id=message_id).order_by("id").values_list("id", flat=True)
    first_steps = {
        d.notice_id: d  # type: ignore[attr-defined]
        for d in await Delivery.filter(notice_id__in=notices[:2], purpose=DeliveryPurpose.INITIAL).exclude(
            channel=Channel.PORTAL
        )
    }
    await record_outcome(first_steps[notices[0]].id, now=now, ok=True, delivered=True)
    await record_outcome(first_steps[notices[1]].id, now=now, ok=False, error="refused", error_kind=ErrorKind.PERMANENT)
    await record_acknowledgement(notices[2], channel=Channel.PORTAL, now=now)
    pupil_id = await NoticePupil.filter(notice_id=notices[3]).first().values_list("pupil_id", flat=True)
    await record_answer(notices[3], pupil_id, {"1": "no", "2": "Chaud"}, channel=Channel.PORTAL, now=now)
    return len(notices)


def _cells(html: str, message_id: int) -> list[str]:
    row = re.search(rf'<tr>\s*<td><a href="/staff/messages/{message_id}">.*?</tr>', html, re.S)
    assert row, "the message is listed"
    return re.findall(r'<td class="num">(?:<span[^>]*>)?([^<]+)', row.group(0))


def test_the_counts_follow_the_deliveries(at_school_hours: dt.datetime, site: Site) -> None:
    """In school hours (a fallback goes out at once: the failed family is "failed" in the list's sense, a channel
    failed and none reached them yet)."""
    site.login_staff(PRINCIPAL)
    group = site.run(_taught_class)
    fields = _slip_fields()
    message_id = _draft_id(_compose(site, _message_form(group=str(group), needs_acknowledgement="1", **fields)))
    _send(site, message_id)
    families = site.run(_move_some, message_id)

    # families, delivered, read, acknowledged, answered, failed
    # the first family's printed letter is "letter printed", not delivered (issue 14)
    listing = site.client.get("/staff/messages").text
    assert _cells(listing, message_id) == [str(families), "0", "2", "2", "1", "1"]
    assert "+ 1 lettre imprimée" in listing
    counts = site.client.get(f"/staff/messages/{message_id}/progress.json").json()["counts"]
    assert counts == {
        "families": families,
        "delivered": 0,
        "read": 2,
        "acknowledged": 2,
        "answered": 1,
        "failed": 1,
        "printed": 1,
        "opened": 0,
    }
    page = site.client.get(f"/staff/messages/{message_id}").text
    assert "Atteint par Lettre imprimée" not in page and page.count('data-state="printed"') == 1
    assert "lecture confirmée le" in page


def test_a_whole_school_message_lists_its_families_page_by_page(site: Site) -> None:
    site.login_staff(PRINCIPAL)
    message_id = _draft_id(_compose(site, _message_form(school="1")))
    preview = site.client.get(f"/staff/compose/{message_id}/preview").text
    assert "Envoyer à" in preview
    _send(site, message_id)
    families = site.run(lambda: Notice.filter(message_id=message_id).count())
    pages = -(-families // 50)
    assert pages > 1
    first = site.client.get(f"/staff/messages/{message_id}").text
    assert f"Page 1 sur {pages}" in first and 'rel="next"' in first
    last = site.client.get(f"/staff/messages/{message_id}?page={pages}").text
    assert f"Page {pages} sur {pages}" in last and 'rel="prev"' in last
    assert last.count('<th scope="row">') == families - 50 * (pages - 1)
    beyond = site.client.get(f"/staff/messages/{message_id}?page=999").text
    assert f"Page {pages} sur {pages}" in beyond
