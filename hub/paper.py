"""The paper list: the families a printed letter must reach (the digital divide, guide 6967 section IV f).

A notice reaches the paper list when its plan comes to the letter: at once for families without internet, or
after the last electronic channel failed or went unacknowledged. The list is read from the deliveries themselves
(the queue is the report), so it is never out of step with what was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.enums import Channel, DeliveryState
from hub.models import Delivery

#: Letters waiting to be printed: due now or held until the charter allows (a letter is printed in school hours).
WAITING = (DeliveryState.DUE, DeliveryState.HELD, DeliveryState.CLAIMED)


@dataclass(frozen=True)
class PaperItem:
    delivery_id: int
    notice_id: int
    message_id: int
    subject: str
    guardian_id: int
    guardian_name: str
    address_lines: tuple[str, ...]
    due_at: datetime
    #: Why paper: "only channel" for families without internet, "fallback" or "escalation" otherwise.
    reason: str


def _address(street: str, postal_code: str, city: str, country: str) -> tuple[str, ...]:
    lines = [street, f"{postal_code} {city}".strip()]
    if country and country != "BE":
        lines.append(country)
    return tuple(line for line in lines if line)


async def paper_list(*, message_id: int | None = None, school_id: int | None = None) -> list[PaperItem]:
    """Letters to print, oldest first, in one query."""
    query = Delivery.filter(channel=Channel.LETTER, state__in=WAITING)
    if message_id is not None:
        query = query.filter(notice__message_id=message_id)
    if school_id is not None:
        query = query.filter(notice__message__school_id=school_id)
    rows = await query.order_by("due_at", "id").values(
        "id",
        "notice_id",
        "due_at",
        "purpose",
        "step",
        "notice__message_id",
        "notice__message__subject",
        "notice__guardian_id",
        "notice__guardian__first_name",
        "notice__guardian__last_name",
        "notice__guardian__street",
        "notice__guardian__postal_code",
        "notice__guardian__city",
        "notice__guardian__country",
        "notice__guardian__household__street",
        "notice__guardian__household__postal_code",
        "notice__guardian__household__city",
        "notice__guardian__household__country",
    )
    items = []
    for r in rows:
        own = _address(
            r["notice__guardian__street"] or "",
            r["notice__guardian__postal_code"] or "",
            r["notice__guardian__city"] or "",
            r["notice__guardian__country"] or "",
        )
        home = _address(
            r["notice__guardian__household__street"] or "",
            r["notice__guardian__household__postal_code"] or "",
            r["notice__guardian__household__city"] or "",
            r["notice__guardian__household__country"] or "",
        )
        items.append(
            PaperItem(
                delivery_id=r["id"],
                notice_id=r["notice_id"],
                message_id=r["notice__message_id"],
                subject=r["notice__message__subject"],
                guardian_id=r["notice__guardian_id"],
                guardian_name=f"{r['notice__guardian__first_name']} {r['notice__guardian__last_name']}",
                address_lines=own or home,
                due_at=r["due_at"],
                reason=str(r["purpose"]) if r["purpose"] != "initial" else "only channel",
            )
        )
    return items
