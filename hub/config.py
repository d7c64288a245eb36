"""Configuration, read in one place from environment variables with safe defaults.

Nothing else in Carnet reads ``os.environ``: every module takes a ``Settings`` (or a value from it), so tests
build their own without touching the process environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: The repository (or installed tree) root, where ``templates/`` lives.
ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    return ROOT / "var"


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
        )
