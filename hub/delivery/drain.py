"""How long sending will take: the deliveries waiting per channel against the providers' configured limits.

The same limits the workers keep to (``hub.delivery.worker.Limits``: fixed one-second windows of
``floor(rate)`` messages per rate-limited channel, shared through ``rate_window`` on PostgreSQL), so the estimate
is what the queue can do at best: ``ceil(n / floor(rate))`` seconds for ``n`` messages. Email is limited by its
connections to the relay (:data:`EMAIL_SECONDS_PER_MESSAGE` each); the portal and the printed letter take no
sending time (the letter waits for the print run, which the office page shows).

The composer's preview estimates from the families per first channel; a message's page from what is still
waiting (planned, due or being sent) as it drains.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tortoise.functions import Count

from hub.config import Settings
from hub.delivery.worker import DEFAULT_CONNECTIONS, DEFAULT_RATES
from hub.enums import Channel, DeliveryState
from hub.messaging.models import Delivery

#: An SMTP relay's time to take one message on one connection (a measured order of magnitude, not a limit).
EMAIL_SECONDS_PER_MESSAGE = 0.25
#: Channels whose sending takes no provider time.
_INSTANT = frozenset({Channel.PORTAL, Channel.LETTER})
_WAITING = (DeliveryState.PLANNED, DeliveryState.HELD, DeliveryState.DUE, DeliveryState.CLAIMED)


@dataclass(frozen=True)
class ChannelDrain:
    channel: Channel
    messages: int
    #: Messages a second the limits allow (None: no limit is configured for this channel).
    per_second: float | None
    seconds: int


def configured_rates(settings: Settings) -> dict[Channel, float]:
    """The providers' limits: the defaults, then ``CARNET_SEND_RATES`` (unknown channels ignored)."""
    rates = dict(DEFAULT_RATES)
    known = {str(c): c for c in Channel}
    for name, rate in settings.send_rates:
        if name in known:
            rates[known[name]] = rate
    return rates


def estimate(counts: Mapping[Channel, int], rates: Mapping[Channel, float]) -> list[ChannelDrain]:
    """Per channel with messages to send, how many seconds they take at best under ``rates``."""
    out = []
    for channel, n in counts.items():
        if n <= 0 or channel in _INSTANT:
            continue
        if channel in rates:
            per_window = max(1, math.floor(rates[channel]))
            out.append(ChannelDrain(channel, n, float(per_window), math.ceil(n / per_window)))
        elif channel == Channel.EMAIL:
            connections = DEFAULT_CONNECTIONS.get(Channel.EMAIL, 1)
            per_second = connections / EMAIL_SECONDS_PER_MESSAGE
            out.append(ChannelDrain(channel, n, per_second, math.ceil(n / per_second)))
        else:
            out.append(ChannelDrain(channel, n, None, 0))
    return sorted(out, key=lambda d: (-d.seconds, str(d.channel)))


def longest(drains: Iterable[ChannelDrain]) -> int:
    """The channels send side by side: the whole takes as long as the slowest."""
    return max((d.seconds for d in drains), default=0)


async def waiting(message_id: int) -> dict[Channel, int]:
    """The message's deliveries not yet handed to their provider, per channel."""
    rows = (
        await Delivery.filter(notice__message_id=message_id, state__in=_WAITING)
        .annotate(n=Count("id"))
        .group_by("channel")
        .values_list("channel", "n")
    )
    return {Channel(channel): int(n) for channel, n in rows}
