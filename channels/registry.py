"""Which channels this hub can use, built once at start from ``hub.config.Settings``.

A channel whose variables are all unset is simply not offered: :func:`build_adapters` leaves it out and
:func:`available_channels` does not name it, so the router plans around it (falls back to the next channel).
A channel that is *partly* or wrongly configured is a mistake to fix before anything is sent: a ``ValueError``
naming the environment variable is raised at start. The portal needs nothing and is always available; the letter
needs nothing either and ends every plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from channels.base import ChannelAdapter
from hub.config import Settings
from hub.enums import Channel

__all__ = ["TWILIO_STATUS_PATH", "available_channels", "build_adapters", "channel_settings"]

#: Where Twilio posts delivery statuses (``Settings.base_url`` + this path, see ``hub/web.py``).
TWILIO_STATUS_PATH = "/hooks/twilio/status"


def _checked(channel: str, hints: Mapping[str, str], build: Callable[[], Any]) -> Any:
    """``build()``, with its ValueError reworded to name the environment variable behind the bad value."""
    try:
        return build()
    except ValueError as exc:
        text = str(exc)
        names = [var for needle, var in hints.items() if needle.lower() in text.lower()]
        where = names[0] if names else " / ".join(dict.fromkeys(hints.values()))
        raise ValueError(f"{channel} is badly configured ({where}): {text}") from exc


def _required(channel: str, values: Mapping[str, str]) -> None:
    missing = [var for var, value in values.items() if not value]
    if missing:
        raise ValueError(f"{channel} is partly configured: set {', '.join(missing)} too (or unset them all)")


def _email(s: Settings) -> Any:
    if not (s.smtp_host or s.smtp_port or s.smtp_user or s.smtp_password or s.smtp_sender):
        return None
    from channels.email import EmailSettings

    _required("email", {"CARNET_SMTP_HOST": s.smtp_host})
    if s.smtp_port is not None and not 0 < s.smtp_port < 65536:
        raise ValueError(f"email is badly configured (CARNET_SMTP_PORT): {s.smtp_port} is not a TCP port")
    if bool(s.smtp_user) != bool(s.smtp_password):
        raise ValueError("email is partly configured: set both CARNET_SMTP_USER and CARNET_SMTP_PASSWORD, or neither")
    kwargs: dict[str, Any] = {"host": s.smtp_host}
    if s.smtp_port is not None:
        kwargs["port"] = s.smtp_port
    if s.smtp_sender:
        kwargs["sender"] = s.smtp_sender
    if s.smtp_user:
        kwargs.update(username=s.smtp_user, password=s.smtp_password)
    if s.smtp_starttls is not None:
        kwargs["starttls"] = s.smtp_starttls
    if s.bounce_secret:  # VERP return paths, read back by ``carnet bounces``
        from channels.email import return_path_key

        kwargs["return_path_key"] = _checked(
            "email", {"": "CARNET_BOUNCE_SECRET"}, lambda: return_path_key(s.bounce_secret)
        )
        kwargs["return_path_domain"] = s.bounce_domain
    hints = {"host": "CARNET_SMTP_HOST", "tls": "CARNET_SMTP_STARTTLS"}
    return _checked("email", hints, lambda: EmailSettings(**kwargs))


def _sms(s: Settings) -> Any:
    if not (s.twilio_account_sid or s.twilio_auth_token or s.twilio_from or s.twilio_api_base):
        return None
    from channels.sms import SmsSettings

    _required(
        "sms",
        {
            "CARNET_TWILIO_ACCOUNT_SID": s.twilio_account_sid,
            "CARNET_TWILIO_AUTH_TOKEN": s.twilio_auth_token,
            "CARNET_TWILIO_FROM": s.twilio_from,
        },
    )
    hints = {
        "account SID": "CARNET_TWILIO_ACCOUNT_SID",
        "auth token": "CARNET_TWILIO_AUTH_TOKEN",
        "sender": "CARNET_TWILIO_FROM",
        "status callback": "CARNET_BASE_URL",
        "base_url": "CARNET_TWILIO_API_BASE",
    }
    return _checked(
        "sms",
        hints,
        lambda: SmsSettings(
            account_sid=s.twilio_account_sid,
            auth_token=s.twilio_auth_token,
            sender=s.twilio_from,
            status_callback_url=s.base_url.rstrip("/") + TWILIO_STATUS_PATH,
            base_url=s.twilio_api_base or None,
        ),
    )


def _webpush(s: Settings) -> Any:
    if not (s.vapid_key_file or s.vapid_contact):
        return None
    from channels.webpush import WebPushSettings

    _required("webpush", {"CARNET_VAPID_KEY_FILE": s.vapid_key_file, "CARNET_VAPID_CONTACT": s.vapid_contact})
    hints = {"key": "CARNET_VAPID_KEY_FILE", "contact": "CARNET_VAPID_CONTACT"}
    return _checked(
        "webpush",
        hints,
        lambda: WebPushSettings(vapid_private_key_path=s.vapid_key_file, vapid_contact=s.vapid_contact),
    )


def _fcm(s: Settings) -> Any:
    if not (s.firebase_credentials or s.fcm_url):
        return None
    from channels.fcm import FcmSettings

    _required("fcm", {"CARNET_FIREBASE_CREDENTIALS": s.firebase_credentials})
    hints = {"fcm_base_url": "CARNET_FCM_URL", "service account": "CARNET_FIREBASE_CREDENTIALS"}
    return _checked(
        "fcm",
        hints,
        lambda: FcmSettings(service_account=Path(s.firebase_credentials), fcm_base_url=s.fcm_url or None),
    )


def _telegram(s: Settings) -> Any:
    if not (s.telegram_token or s.telegram_bot_username or s.telegram_api_base or s.telegram_link_secret):
        return None
    from channels.telegram import TelegramSettings

    _required(
        "telegram",
        {
            "CARNET_TELEGRAM_TOKEN": s.telegram_token,
            "CARNET_TELEGRAM_BOT_USERNAME": s.telegram_bot_username,
            "CARNET_TELEGRAM_LINK_SECRET": s.telegram_link_secret,
        },
    )
    hints = {
        "bot token": "CARNET_TELEGRAM_TOKEN",
        "username": "CARNET_TELEGRAM_BOT_USERNAME",
        "api_base": "CARNET_TELEGRAM_API_BASE",
        "link secret": "CARNET_TELEGRAM_LINK_SECRET",
    }
    return _checked(
        "telegram",
        hints,
        lambda: TelegramSettings(
            bot_token=s.telegram_token,
            bot_username=s.telegram_bot_username,
            api_base=s.telegram_api_base or None,
            link_secret=s.telegram_link_secret,
        ),
    )


_BUILDERS: dict[Channel, Callable[[Settings], Any]] = {
    Channel.EMAIL: _email,
    Channel.SMS: _sms,
    Channel.WEBPUSH: _webpush,
    Channel.FCM: _fcm,
    Channel.TELEGRAM: _telegram,
}


def channel_settings(settings: Settings) -> dict[Channel, Any]:
    """The validated settings object of each configured electronic channel (``SmsSettings``, ...). Raises
    ValueError naming the environment variable for a channel configured wrongly or in part."""
    found: dict[Channel, Any] = {}
    for channel, build in _BUILDERS.items():
        value = build(settings)
        if value is not None:
            found[channel] = value
    return found


def available_channels(settings: Settings) -> frozenset[Channel]:
    """What ``planning.publish(available_channels=...)`` takes: the portal, the letter and every configured
    channel. Makes no connection."""
    return frozenset({Channel.PORTAL, Channel.LETTER, *channel_settings(settings)})


def build_adapters(settings: Settings, *, letter_school: Any = None) -> dict[Channel, ChannelAdapter]:
    """One adapter per configured channel, and the letter always. Adapters open their connections on first use
    (the web push key file is created here when missing). ``letter_school`` (a ``LetterSchool``) is what
    letters built by ``LetterAdapter.send`` are headed with; the print queue builds its own letters."""
    from channels.letter import LetterAdapter, LetterSchool

    configured = channel_settings(settings)
    adapters: dict[Channel, ChannelAdapter] = {}
    for channel, config in configured.items():
        adapters[channel] = _adapter(channel, config)
    adapters[Channel.LETTER] = LetterAdapter(letter_school or LetterSchool(name="", address_lines=()))
    return adapters


def _adapter(channel: Channel, config: Any) -> ChannelAdapter:
    if channel is Channel.EMAIL:
        from channels.email import EmailAdapter

        return EmailAdapter(config)
    if channel is Channel.SMS:
        from channels.sms import SmsAdapter

        return SmsAdapter(config)
    if channel is Channel.WEBPUSH:
        from channels.webpush import WebPushAdapter

        return _checked("webpush", {"": "CARNET_VAPID_KEY_FILE"}, lambda: WebPushAdapter(config))
    if channel is Channel.FCM:
        from channels.fcm import FcmAdapter

        return _checked("fcm", {"": "CARNET_FIREBASE_CREDENTIALS"}, lambda: FcmAdapter(config))
    from channels.telegram import TelegramAdapter

    return TelegramAdapter(config)
