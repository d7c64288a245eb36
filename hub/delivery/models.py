"""What the sending machinery stores beyond the deliveries: the providers' shared rate windows.

One Tortoise app (``models``) over every package's models, one migration history (``hub/store/migrations``).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class RateWindow(Model):
    """A provider's sending limit shared by every worker (PostgreSQL): messages taken in one second per channel."""

    id = fields.BigIntField(primary_key=True)
    channel = fields.CharField(max_length=16)
    #: The start of the one-second window (truncated to the second, database time).
    window_start = fields.DatetimeField()
    #: Slots taken in that window, counted past the limit too (those senders wait for the next second).
    count = fields.IntField(default=0)

    class Meta:
        table = "rate_window"
        unique_together = (("channel", "window_start"),)
