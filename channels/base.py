"""The one small interface every channel adapter implements.

An adapter sends one rendered message to one contact and says what happened as an ``Outcome``: accepted (with the
provider's id and cost), or failed, transient (try again later) or permanent (this contact will never work, so
the router drops it and falls back to the next channel of the plan). Adapters never read preferences or consents:
the router has decided before they are called. They are async from the start.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import parsedate_to_datetime

from hub import clock
from hub.enums import Channel, DeliveryState, ErrorKind


@dataclass(frozen=True)
class Button:
    """An action the guardian can take from the message itself (Telegram buttons, push actions)."""

    label: str
    action: str  #: e.g. "ack" or "answer:1:yes"


@dataclass(frozen=True)
class Rendered:
    """One notice rendered for one channel in the guardian's language."""

    language: str
    subject: str
    text: str  #: plain text (the email's text part, the SMS body, the push body)
    html: str = ""  #: the email's HTML part
    link: str = ""  #: the guardian's personal link to read, acknowledge and answer
    buttons: tuple[Button, ...] = ()
    reply_to: str = ""
    #: The notice's one-click unsubscribe address (RFC 8058), for the email's List-Unsubscribe header.
    unsubscribe: str = ""
    #: A key the provider may use to refuse a second copy (a worker crashed between send and record).
    idempotency_key: str = ""
    #: An iCalendar (RFC 5545) object to carry along, e.g. a reply slip's deadline; email only.
    calendar: str = ""


@dataclass(frozen=True)
class Outcome:
    state: DeliveryState  #: SENT (accepted), DELIVERED (confirmed at once) or FAILED
    provider_id: str = ""
    error: str = ""
    error_kind: ErrorKind | None = None
    #: The contact is dead (bounce, unknown number, 410 Gone): mark it so the router stops using it.
    dead_contact: bool = False
    cost: Decimal = Decimal(0)
    segments: int = 0
    #: For a transient failure: what the provider asked (429 Retry-After), in seconds.
    retry_after: float | None = None

    @classmethod
    def sent(cls, provider_id: str, **kw: object) -> Outcome:
        return cls(DeliveryState.SENT, provider_id=provider_id, **kw)  # type: ignore[arg-type]

    @classmethod
    def transient(cls, error: str, retry_after: float | None = None) -> Outcome:
        return cls(DeliveryState.FAILED, error=error, error_kind=ErrorKind.TRANSIENT, retry_after=retry_after)

    @classmethod
    def permanent(cls, error: str, *, dead_contact: bool = False) -> Outcome:
        return cls(DeliveryState.FAILED, error=error, error_kind=ErrorKind.PERMANENT, dead_contact=dead_contact)

    @property
    def ok(self) -> bool:
        return self.state != DeliveryState.FAILED


@dataclass(frozen=True)
class Envelope:
    """One item of a batch: which contact gets which rendering."""

    contact: str
    message: Rendered
    meta: dict[str, str] = field(default_factory=dict)


class ChannelAdapter(abc.ABC):
    channel: Channel

    @abc.abstractmethod
    async def send(self, contact: str, message: Rendered) -> Outcome:
        """Send one message; never raises for a provider's refusal: that is an Outcome."""

    async def send_batch(self, items: Sequence[Envelope]) -> list[Outcome]:
        """Adapters that can reuse a connection override this; the default sends one by one."""
        return [await self.send(item.contact, item.message) for item in items]

    async def close(self) -> None:  # noqa: B027 - most adapters hold nothing
        """Release connections."""


def retry_after_seconds(value: str | None, *, default: float, now: dt.datetime | None = None) -> float:
    """Seconds to wait from an HTTP ``Retry-After`` value (delta-seconds or an HTTP date), else ``default``."""
    value = (value or "").strip()
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or clock.now())).total_seconds())
