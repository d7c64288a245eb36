"""The demo's local providers: an SMTP server, a Twilio-speaking SMS service, a web push service, an FCM
endpoint and a Telegram Bot API server on 127.0.0.1, with the settings that point Carnet's real clients at them,
and Carnet's own bounce receiver, to which the SMTP server mails a DSN for any address at ``bounce.invalid``.

Going live is the same code with other settings: ``settings_for`` only fills in the variables a school would set
(``CARNET_SMTP_HOST``, ``CARNET_TWILIO_*``, ``CARNET_VAPID_*``, ``CARNET_FIREBASE_CREDENTIALS``,
``CARNET_TELEGRAM_*``, ``CARNET_BOUNCE_SECRET``), and the adapters come from the same
``channels.registry.build_adapters``. The outbox gathers what each peer received, per guardian, so a person can
follow a message from the composer to the family.

A browser's push subscription lives as long as the push service that issued it: each start, the demo's web push
contacts subscribe again to this run's service (as a service worker does on ``pushsubscriptionchange``).

Each item of the outbox carries the time it reached its provider on the product's clock (``hub.clock``: in the
demo, the demo's clock), noted by a watcher that looks at the peers a few times a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from channels.email import return_path_key
from channels.peers.fcm import FcmPeer
from channels.peers.pushservice import PushServicePeer
from channels.peers.smtp import SmtpPeer
from channels.peers.telegram import TelegramPeer
from channels.peers.translator import TranslatorPeer
from channels.peers.twilio import TwilioPeer
from hub import clock
from hub.config import Settings
from hub.delivery.bounces import BounceResult, BounceServer
from hub.enums import ContactKind
from hub.people.models import Contact

#: Throw-away credentials: the peers check them the way the real providers do.
DEMO_TWILIO_SID = "AC" + "d" * 32
DEMO_TELEGRAM_TOKEN = "123456:" + "D" * 35
#: How often the watcher notes the time of what the peers received (seconds).
STAMP_EVERY = 0.2


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
        self.bounce_secret = secrets.token_hex(32)
        self.twilio = TwilioPeer(auth_token=self.twilio_token, account_sid=DEMO_TWILIO_SID, callback_delay=0.5)
        self.push = PushServicePeer()
        self.fcm = FcmPeer(project_id="carnet-demo")
        #: Machine translation drafts in the composer: a DeepL-speaking peer (the real client points at it).
        self.translator = TranslatorPeer(auth_key=secrets.token_hex(16) + ":fx")
        #: Started by :meth:`start`: the SMTP peer mails its DSNs to the bounce receiver, whose port comes first.
        self.bounces: BounceServer | None = None
        self.smtp: SmtpPeer | None = None
        self.telegram: TelegramPeer | None = None
        #: What the bounce receiver made of each DSN, and a signal set at each one (the demo is small).
        self.bounce_results: list[BounceResult] = []
        self.bounce_received = asyncio.Event()
        #: The run's throw-away files: the VAPID key and the FCM service account.
        self._files = tempfile.TemporaryDirectory(prefix="carnet-demo-")
        #: When each received item was first seen, on the product's clock: (source, index) -> time.
        self._stamps: dict[tuple[str, int], datetime] = {}
        self._watcher: asyncio.Task[None] | None = None

    @property
    def files(self) -> Path:
        return Path(self._files.name)

    async def start(self) -> DemoPeers:
        """Start every peer; runs on the web app's loop, whose database the bounce receiver writes to."""
        self.bounces = await BounceServer(return_path_key(self.bounce_secret), on_result=self._bounced).start()
        self.smtp = SmtpPeer(dsn_relay=("127.0.0.1", self.bounces.port)).start()
        await self.twilio.start()
        await self.push.start()
        await self.translator.start()
        await asyncio.to_thread(self.fcm.start_in_thread)
        (self.files / "fcm-service-account.json").write_text(json.dumps(self.fcm.service_account()))
        await self._resubscribe_browsers()
        values = cast(list[str], await Contact.filter(kind=ContactKind.TELEGRAM).values_list("value", flat=True))
        chats = {int(v) for v in values}
        self.telegram = TelegramPeer(token=DEMO_TELEGRAM_TOKEN, username="carnet_demo_bot", chats=chats)
        await self.telegram.start()
        self._watcher = asyncio.create_task(self._watch())
        return self

    def _sources(self) -> dict[str, Sequence[Any]]:
        """Every list a peer appends what it receives to, by a name of its own."""
        mailbox = self.smtp.mailbox if self.smtp else None
        return {
            "mail": mailbox.messages if mailbox else [],
            "dsn": mailbox.dsns if mailbox else [],
            "bounce": self.bounce_results,
            "webpush": self.push.received,
            "fcm": self.fcm.messages,
            "sms": self.twilio.messages,
            "telegram": self.telegram.messages if self.telegram else [],
        }

    def _stamp(self) -> None:
        """Note the product's time of every item not seen yet (the peers' lists only grow)."""
        now = clock.now()
        for name, items in self._sources().items():
            index = len(items) - 1
            while index >= 0 and (name, index) not in self._stamps:
                self._stamps[(name, index)] = now
                index -= 1

    async def _watch(self) -> None:
        while True:
            self._stamp()
            await asyncio.sleep(STAMP_EVERY)

    async def _bounced(self, result: BounceResult) -> None:
        self.bounce_results.append(result)
        self.bounce_received.set()

    async def _resubscribe_browsers(self) -> None:
        """Each web push contact gets a subscription of this run's push service (the last run's is gone)."""
        for contact in await Contact.filter(kind=ContactKind.WEBPUSH):
            await Contact.filter(id=contact.id).update(value=json.dumps(self.push.subscribe()))

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self.smtp is not None:
            await asyncio.to_thread(self.smtp.stop)  # its DSNs under way need this loop's bounce receiver
        if self.bounces is not None:
            await self.bounces.stop()
        await self.twilio.stop()
        await self.push.stop()
        await self.translator.stop()
        await asyncio.to_thread(self.fcm.stop_thread)
        if self.telegram is not None:
            await self.telegram.stop()
        self._files.cleanup()

    def settings_for(self, settings: Settings) -> Settings:
        assert self.telegram is not None and self.bounces is not None and self.smtp is not None, "start() first"
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
            vapid_key_file=str(self.files / "vapid.pem"),
            vapid_contact="mailto:ecole@athenee-demo.example.be",
            firebase_credentials=str(self.files / "fcm-service-account.json"),
            fcm_url=self.fcm.base_url,
            bounce_secret=self.bounce_secret,
            bounce_host="127.0.0.1",
            bounce_port=self.bounces.port,
            translation="deepl",
            deepl_auth_key=self.translator.auth_key,
            deepl_server_url=self.translator.base_url,
        )

    async def outbox(self, guardian_id: int | None = None, limit: int = 200) -> list[OutboxItem]:
        """What the providers received, newest first, with the guardian each address belongs to."""
        owners: dict[str, tuple[int, str]] = {}
        for kind, value, gid, first, last in await Contact.all().values_list(
            "kind", "value", "guardian_id", "guardian__first_name", "guardian__last_name"
        ):
            # A push subscription is shown (and found) by its endpoint.
            owners[_endpoint(value) if kind == ContactKind.WEBPUSH else str(value)] = (gid, f"{first} {last}")
        self._stamp()
        items: list[OutboxItem] = []

        def add(source: str, index: int, channel: str, to: str, subject: str, text: str) -> None:
            gid, name = owners.get(to, (None, ""))
            at = self._stamps.get((source, index)) or clock.now()
            items.append(OutboxItem(channel, to, gid, name, subject, text, at))

        sources = self._sources()
        for i, mail in enumerate(sources["mail"]):
            body = mail.get_body(("plain",))
            add("mail", i, "email", str(mail["To"]), str(mail["Subject"]), body.get_content() if body else "")
        for i, dsn in enumerate(sources["dsn"]):
            text = f"Delivery status notification {dsn.status}, mailed to {dsn.return_path}"
            add("dsn", i, "email", dsn.recipient, "Undelivered mail (bounce)", text)
        for i, bounce in enumerate(sources["bounce"]):
            to = bounce.status.recipient if bounce.status else ""
            text = f"Carnet read the bounce of delivery {bounce.delivery_id}: {bounce.outcome}"
            add("bounce", i, "email", to, "Bounce received", text)
        for i, push in enumerate(sources["webpush"]):
            payload = _json_object(push.plaintext)
            endpoint = f"{self.push.base_url}/push/{push.subscription_id}"
            add("webpush", i, "webpush", endpoint, *_title_and_body(payload))
        for i, sent in enumerate(list(sources["fcm"])):
            add("fcm", i, "fcm", sent.token, *_title_and_body(sent.message.get("notification")))
        for i, sms in enumerate(sources["sms"]):
            add("sms", i, "sms", sms.to, "", sms.body)
        for i, tg in enumerate(sources["telegram"]):
            add("telegram", i, "telegram", str(tg.chat_id), "", tg.text)
        if guardian_id is not None:
            items = [i for i in items if i.guardian_id == guardian_id]
        # Newest first: by the time each reached its provider (a stable sort keeps the order of one instant).
        items = items[::-1]
        items.sort(key=lambda item: item.at, reverse=True)
        return items[:limit]


def _endpoint(subscription: str) -> str:
    return str(_json_object(subscription.encode()).get("endpoint", subscription))


def _title_and_body(notification: Any) -> tuple[str, str]:
    if not isinstance(notification, dict):
        return "", ""
    return str(notification.get("title", "")), str(notification.get("body", ""))


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
