"""Configuration, read in one place from environment variables with safe defaults.

Nothing else in Carnet reads ``os.environ``: every module takes a ``Settings`` (or a value from it), so tests
build their own without touching the process environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: The repository (or installed tree) root.
ROOT = Path(__file__).resolve().parent.parent
#: The Jinja2 pages, the per-channel message templates and the static files. In the source tree they live at the
#: root (``templates/``, reached through the ``hub/templates`` link); an installed Carnet carries them inside the
#: package, so a wheel or a non-editable install finds them without the sources.
TEMPLATES = Path(__file__).resolve().parent / "templates"
#: Whether this is a source checkout (a developer's tree) rather than an installed package.
SOURCE_TREE = (ROOT / "pyproject.toml").is_file()


def _default_data_dir() -> Path:
    """``var/`` of a source checkout; for an installed Carnet, ``carnet`` in the user's data folder (XDG)."""
    if SOURCE_TREE:
        return ROOT / "var"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "carnet"


@dataclass(frozen=True)
class Settings:
    #: Where the SQLite file, generated letters and keys live when nothing else is said.
    data_dir: Path = field(default_factory=_default_data_dir)
    #: ``sqlite:///abs/path.sqlite3`` (default: ``<data_dir>/carnet.sqlite3``) or ``postgres://user:pw@host/db``.
    database_url: str = ""
    #: The school's time zone when the database does not say otherwise.
    timezone: str = "Europe/Brussels"
    #: The charter file; empty means the default Belgian charter shipped in ``charter/default.toml``.
    charter_path: str = ""
    #: Where the web app listens.
    host: str = "127.0.0.1"
    port: int = 8000
    #: The public address of the portal, used in personal links sent by email, SMS and letter.
    base_url: str = "http://127.0.0.1:8000"
    #: The demo: start local providers (SMTP, SMS, Telegram) on 127.0.0.1 and a worker inside the web process.
    demo_peers: bool = False

    # Channels (see ``channels/registry.py``): a channel whose variables are all unset is not offered.
    #: Email: ``CARNET_SMTP_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD``, ``_STARTTLS``, ``_SENDER``.
    smtp_host: str = ""
    smtp_port: int | None = None
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_starttls: bool | None = None
    smtp_sender: str = ""
    #: SMS: ``CARNET_TWILIO_ACCOUNT_SID``, ``_AUTH_TOKEN``, ``_FROM`` (E.164 or sender id), ``_API_BASE``.
    twilio_account_sid: str = ""
    twilio_auth_token: str = field(default="", repr=False)
    twilio_from: str = ""
    twilio_api_base: str = ""
    #: Web push: ``CARNET_VAPID_KEY_FILE`` (PEM, created on first use), ``CARNET_VAPID_CONTACT`` (mailto:).
    vapid_key_file: str = ""
    vapid_contact: str = ""
    #: Mobile push: ``CARNET_FIREBASE_CREDENTIALS`` (service-account JSON file), ``CARNET_FCM_URL``.
    firebase_credentials: str = ""
    fcm_url: str = ""
    #: Telegram: ``CARNET_TELEGRAM_TOKEN``, ``_BOT_USERNAME``, ``_API_BASE``, ``_LINK_SECRET``.
    telegram_token: str = field(default="", repr=False)
    telegram_bot_username: str = ""
    telegram_api_base: str = ""
    telegram_link_secret: str = field(default="", repr=False)
    #: Email bounces (``carnet bounces``): ``CARNET_BOUNCE_SECRET`` signs the VERP return path of each email
    #: (unset: no VERP, bounces go to the sender), ``_DOMAIN`` is the return paths' domain (default: the
    #: sender's), ``_HOST`` and ``_PORT`` where the bounce receiver listens for the DSNs.
    bounce_secret: str = field(default="", repr=False)
    bounce_domain: str = ""
    bounce_host: str = "127.0.0.1"
    bounce_port: int = 2525
    #: Machine translation drafts in the composer, off by default: ``CARNET_TRANSLATION`` = ``deepl`` (the
    #: official client: ``CARNET_DEEPL_AUTH_KEY``, ``CARNET_DEEPL_SERVER_URL`` for another server than DeepL's) or
    #: ``libretranslate`` (a school's own server: ``CARNET_LIBRETRANSLATE_URL``, ``CARNET_LIBRETRANSLATE_KEY``).
    translation: str = ""
    #: Providers' sending limits in messages per second, ``CARNET_SEND_RATES`` = ``sms=10,telegram=30``: what
    #: every worker keeps to (``carnet worker --rate`` overrides it for one worker) and what the composer's
    #: estimate of a send's duration reads (``hub.delivery.drain``).
    send_rates: tuple[tuple[str, float], ...] = ()
    deepl_auth_key: str = field(default="", repr=False)
    deepl_server_url: str = ""
    libretranslate_url: str = ""
    libretranslate_key: str = field(default="", repr=False)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite://{self.data_dir / 'carnet.sqlite3'}"

    @property
    def is_postgres(self) -> bool:
        return self.db_url.startswith(("postgres://", "postgresql://", "asyncpg://"))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("CARNET_DATA_DIR") or _default_data_dir())
        port = int(env.get("CARNET_PORT", "8000"))
        host = env.get("CARNET_HOST", "127.0.0.1")
        return cls(
            data_dir=data_dir,
            database_url=env.get("CARNET_DATABASE_URL", ""),
            timezone=env.get("CARNET_TIMEZONE", "Europe/Brussels"),
            charter_path=env.get("CARNET_CHARTER", ""),
            host=host,
            port=port,
            base_url=env.get("CARNET_BASE_URL", f"http://{host}:{port}"),
            demo_peers=env.get("CARNET_DEMO_PEERS", "").lower() in {"1", "true", "yes"},
            smtp_host=env.get("CARNET_SMTP_HOST", "").strip(),
            smtp_port=_int_or_none(env, "CARNET_SMTP_PORT"),
            smtp_user=env.get("CARNET_SMTP_USER", ""),
            smtp_password=env.get("CARNET_SMTP_PASSWORD", ""),
            smtp_starttls=_bool_or_none(env, "CARNET_SMTP_STARTTLS"),
            smtp_sender=env.get("CARNET_SMTP_SENDER", "").strip(),
            twilio_account_sid=env.get("CARNET_TWILIO_ACCOUNT_SID", "").strip(),
            twilio_auth_token=env.get("CARNET_TWILIO_AUTH_TOKEN", "").strip(),
            twilio_from=env.get("CARNET_TWILIO_FROM", "").strip(),
            twilio_api_base=env.get("CARNET_TWILIO_API_BASE", "").strip(),
            vapid_key_file=env.get("CARNET_VAPID_KEY_FILE", "").strip(),
            vapid_contact=env.get("CARNET_VAPID_CONTACT", "").strip(),
            firebase_credentials=env.get("CARNET_FIREBASE_CREDENTIALS", "").strip(),
            fcm_url=env.get("CARNET_FCM_URL", "").strip(),
            telegram_token=env.get("CARNET_TELEGRAM_TOKEN", "").strip(),
            telegram_bot_username=env.get("CARNET_TELEGRAM_BOT_USERNAME", "").strip(),
            telegram_api_base=env.get("CARNET_TELEGRAM_API_BASE", "").strip(),
            telegram_link_secret=env.get("CARNET_TELEGRAM_LINK_SECRET", ""),
            bounce_secret=env.get("CARNET_BOUNCE_SECRET", ""),
            bounce_domain=env.get("CARNET_BOUNCE_DOMAIN", "").strip(),
            bounce_host=env.get("CARNET_BOUNCE_HOST", "127.0.0.1").strip(),
            bounce_port=_int_or_none(env, "CARNET_BOUNCE_PORT") or 2525,
            translation=_translation(env),
            send_rates=_rates(env.get("CARNET_SEND_RATES", "")),
            deepl_auth_key=env.get("CARNET_DEEPL_AUTH_KEY", "").strip(),
            deepl_server_url=env.get("CARNET_DEEPL_SERVER_URL", "").strip(),
            libretranslate_url=env.get("CARNET_LIBRETRANSLATE_URL", "").strip(),
            libretranslate_key=env.get("CARNET_LIBRETRANSLATE_KEY", "").strip(),
        )


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _translation(env: dict[str, str]) -> str:
    """The machine translation service, checked whole: a service set in part stops the hub with the variable."""
    service = env.get("CARNET_TRANSLATION", "").strip().lower()
    needs = {"": "", "deepl": "CARNET_DEEPL_AUTH_KEY", "libretranslate": "CARNET_LIBRETRANSLATE_URL"}
    if service not in needs:
        raise ValueError(f"CARNET_TRANSLATION must be deepl or libretranslate (or unset), got {service!r}")
    if needs[service] and not env.get(needs[service], "").strip():
        raise ValueError(f"CARNET_TRANSLATION={service} needs {needs[service]}")
    return service


def _rates(raw: str) -> tuple[tuple[str, float], ...]:
    """``sms=10,telegram=30`` as pairs; a rate must be a positive number."""
    pairs = []
    for item in raw.replace(";", ",").split(","):
        if not item.strip():
            continue
        name, _, value = item.partition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = 0.0
        if not name.strip() or not rate > 0 or rate == float("inf"):
            raise ValueError(f"CARNET_SEND_RATES: {item.strip()!r} is not channel=messages per second")
        pairs.append((name.strip().lower(), rate))
    return tuple(pairs)


def _int_or_none(env: dict[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


def _bool_or_none(env: dict[str, str], name: str) -> bool | None:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false (1/0, yes/no, on/off), got {raw!r}")
