"""Which channels the hub offers, from the environment alone (no connection is made)."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.email import EmailAdapter
from channels.letter import LetterAdapter
from channels.registry import available_channels, build_adapters
from channels.sms import SmsAdapter
from hub.config import Settings
from hub.enums import Channel

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "t" * 32


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"CARNET_DATA_DIR": str(tmp_path), **env})


def test_nothing_configured_offers_portal_and_letter_only(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert available_channels(s) == {Channel.PORTAL, Channel.LETTER}
    adapters = build_adapters(s)
    assert set(adapters) == {Channel.LETTER}
    assert isinstance(adapters[Channel.LETTER], LetterAdapter)


def test_settings_stay_backwards_compatible(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.smtp_host == "" and s.twilio_account_sid == "" and s.smtp_port is None
    assert available_channels(s) == {Channel.PORTAL, Channel.LETTER}
    assert "password" not in repr(Settings(data_dir=tmp_path, smtp_password="password"))


def test_smtp_configured_offers_email(tmp_path: Path) -> None:
    s = settings(
        tmp_path, CARNET_SMTP_HOST="127.0.0.1", CARNET_SMTP_PORT="2525", CARNET_SMTP_SENDER="École <e@example.be>"
    )
    assert Channel.EMAIL in available_channels(s)
    adapter = build_adapters(s)[Channel.EMAIL]
    assert isinstance(adapter, EmailAdapter)
    assert adapter.settings.port == 2525 and adapter.settings.sender == "École <e@example.be>"


def test_twilio_configured_offers_sms_with_the_status_callback_on_the_base_url(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        CARNET_BASE_URL="https://carnet.example.be",
        CARNET_TWILIO_ACCOUNT_SID=SID,
        CARNET_TWILIO_AUTH_TOKEN=TOKEN,
        CARNET_TWILIO_FROM="+32470000000",
        CARNET_TWILIO_API_BASE="http://127.0.0.1:9",
    )
    adapter = build_adapters(s)[Channel.SMS]
    assert isinstance(adapter, SmsAdapter)
    assert adapter.settings.status_callback_url == "https://carnet.example.be/hooks/twilio/status"
    assert available_channels(s) == {Channel.PORTAL, Channel.LETTER, Channel.SMS}


def test_a_bad_twilio_sid_names_its_variable(tmp_path: Path) -> None:
    s = settings(
        tmp_path, CARNET_TWILIO_ACCOUNT_SID="XX123", CARNET_TWILIO_AUTH_TOKEN=TOKEN, CARNET_TWILIO_FROM="+32470000000"
    )
    with pytest.raises(ValueError, match="CARNET_TWILIO_ACCOUNT_SID"):
        build_adapters(s)
    with pytest.raises(ValueError, match="CARNET_TWILIO_ACCOUNT_SID"):
        available_channels(s)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CARNET_TWILIO_ACCOUNT_SID": SID}, "CARNET_TWILIO_AUTH_TOKEN"),
        ({"CARNET_SMTP_PORT": "smtp"}, "CARNET_SMTP_PORT"),
        ({"CARNET_SMTP_HOST": "127.0.0.1", "CARNET_SMTP_STARTTLS": "maybe"}, "CARNET_SMTP_STARTTLS"),
        (
            {"CARNET_TELEGRAM_TOKEN": "nope", "CARNET_TELEGRAM_BOT_USERNAME": "carnet_bot"},
            "CARNET_TELEGRAM_LINK_SECRET",
        ),
        (
            {
                "CARNET_TELEGRAM_TOKEN": "nope",
                "CARNET_TELEGRAM_BOT_USERNAME": "carnet_bot",
                "CARNET_TELEGRAM_LINK_SECRET": "s" * 40,
            },
            "CARNET_TELEGRAM_TOKEN",
        ),
        ({"CARNET_VAPID_CONTACT": "mailto:it@example.be"}, "CARNET_VAPID_KEY_FILE"),
        ({"CARNET_FIREBASE_CREDENTIALS": "/nonexistent/sa.json"}, "CARNET_FIREBASE_CREDENTIALS"),
    ],
)
def test_bad_or_partial_configuration_names_the_variable(tmp_path: Path, env: dict[str, str], variable: str) -> None:
    with pytest.raises(ValueError, match=variable):
        available_channels(settings(tmp_path, **env))
