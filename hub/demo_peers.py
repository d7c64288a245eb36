"""The demo's local providers: an SMTP server, a Twilio-speaking SMS service and a Telegram Bot API server on
127.0.0.1, with the settings that point Carnet's real clients at them.

Going live is the same code with other settings: ``settings_for`` only fills in the variables a school would set
(``CARNET_SMTP_HOST``, ``CARNET_TWILIO_*``, ``CARNET_TELEGRAM_*``), and the adapters come from the same
``channels.registry.build_adapters``. The outbox gathers what each peer received, per guardian, so a person can
follow a message from the composer to the family.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from channels.peers.smtp import SmtpPeer
from channels.peers.telegram import TelegramPeer
from channels.peers.twilio import TwilioPeer
from hub.config import Settings
from hub.enums import ContactKind
from hub.models import Contact

#: Throw-away credentials: the peers check them the way the real providers do.
DEMO_TWILIO_SID = "AC" + "d" * 32
DEMO_TELEGRAM_TOKEN = "123456:" + "D" * 35


@dataclass(frozen=True)
class OutboxItem:
    channel: str
    to: str
    guardian_id: int | None
    guardian_name: str
    subject: str
    text: str
    at: datetime


class DemoPeers:
    def __init__(self) -> None:
        self.twilio_token = secrets.token_hex(16)
        self.smtp = SmtpPeer()
        self.twilio = TwilioPeer(auth_token=self.twilio_token, account_sid=DEMO_TWILIO_SID, callback_delay=0.5)
        self.telegram: TelegramPeer | None = None

    async def start(self) -> DemoPeers:
        self.smtp.start()
        await self.twilio.start()
        chats = {int(v) for v in await Contact.filter(kind=ContactKind.TELEGRAM).values_list("value", flat=True)}
        self.telegram = TelegramPeer(token=DEMO_TELEGRAM_TOKEN, username="carnet_demo_bot", chats=chats)
        await self.telegram.start()
        return self

    async def stop(self) -> None:
        self.smtp.stop()
        await self.twilio.stop()
        if self.telegram is not None:
            await self.telegram.stop()

    def settings_for(self, settings: Settings) -> Settings:
        assert self.telegram is not None, "start() first"
        return dataclasses.replace(
            settings,
            smtp_host="127.0.0.1",
            smtp_port=self.smtp.port,
            smtp_starttls=False,
            smtp_sender="Athénée royal de Namur-Bomel <ecole@athenee-demo.example.be>",
            twilio_account_sid=DEMO_TWILIO_SID,
            twilio_auth_token=self.twilio_token,
            twilio_from="+32460200200",
            twilio_api_base=self.twilio.base_url,
            telegram_token=DEMO_TELEGRAM_TOKEN,
            telegram_bot_username="carnet_demo_bot",
            telegram_api_base=self.telegram.base_url,
            telegram_link_secret=settings.telegram_link_secret or secrets.token_hex(32),
        )

    async def outbox(self, guardian_id: int | None = None, limit: int = 200) -> list[OutboxItem]:
        """What the providers received, newest first, with the guardian each address belongs to."""
        owners: dict[str, tuple[int, str]] = {}
        for value, gid, first, last in await Contact.all().values_list(
            "value", "guardian_id", "guardian__first_name", "guardian__last_name"
        ):
            owners[str(value)] = (gid, f"{first} {last}")
        items: list[OutboxItem] = []
        for mail in self.smtp.mailbox.messages:
            to = str(mail["To"])
            body = mail.get_body(("plain",))
            items.append(
                self._item("email", to, owners, str(mail["Subject"]), body.get_content() if body else "", None)
            )
        for sms in self.twilio.messages:
            items.append(self._item("sms", sms.to, owners, "", sms.body, None))
        for tg in self.telegram.messages if self.telegram else []:
            at = datetime.fromtimestamp(tg.date, UTC)
            items.append(self._item("telegram", str(tg.chat_id), owners, "", tg.text, at))
        if guardian_id is not None:
            items = [i for i in items if i.guardian_id == guardian_id]
        return items[::-1][:limit]

    @staticmethod
    def _item(
        channel: str, to: str, owners: dict[str, tuple[int, str]], subject: str, text: str, at: datetime | None
    ) -> OutboxItem:
        gid, name = owners.get(to, (None, ""))
        return OutboxItem(channel, to, gid, name, subject, text, at or datetime.now(UTC))
