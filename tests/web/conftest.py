"""A running app over the demo school, with helpers to sign in as staff or as a guardian.

``site`` runs the real app (Starlette's TestClient, lifespan included) on a fresh database of each backend with
the demo school loaded. ``site.run(fn, *args)`` runs an async function in the app's event loop, where the
database is open (to read a token, or check what a page stored).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest
from starlette.testclient import TestClient

from channels.peers.smtp import Mailbox, SmtpPeer
from hub.config import Settings
from hub.people import security
from hub.web import create_app
from hub.web.kit import now

T = TypeVar("T")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Site:
    client: TestClient
    settings: Settings

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self.client.portal.call(fn, *args)  # type: ignore[union-attr]

    def csrf(self, path: str = "/") -> str:
        """The CSRF token a form of ``path`` carries for the current visitor."""
        found = _CSRF.search(self.client.get(path).text)
        assert found, f"no form with a CSRF token on {path}"
        return found.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, *, form_page: str = "/", **kw: Any) -> Any:
        """POST a form with the visitor's CSRF token, as the browser would (no redirects followed)."""
        fields = {"csrf_token": self.csrf(form_page), **(data or {})}
        return self.client.post(path, data=fields, follow_redirects=False, **kw)

    def login_staff(self, email: str, password: str = "demo") -> None:
        self.client.cookies.clear()
        response = self.post("/login", {"email": email, "password": password}, form_page="/login")
        assert response.status_code == 303, response.text

    def login_guardian(self, guardian_id: int) -> None:
        """Sign in as this guardian through a real personal sign-in link."""
        self.client.cookies.clear()
        token = self.run(security.create_sign_in_link, guardian_id, now())
        response = self.post(f"/s/{token}", form_page=f"/s/{token}")
        assert response.status_code == 303, response.text

    def logout(self) -> None:
        self.client.cookies.clear()


def _serve(settings: Settings) -> Iterator[Site]:
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        yield Site(client, settings)


@pytest.fixture
def site(demo_db_url: str, tmp_path: Path) -> Iterator[Site]:
    """The app over a fresh copy of the demo school (``generate_demo(2026)``)."""
    yield from _serve(Settings(data_dir=tmp_path, database_url=demo_db_url, base_url="http://testserver"))


@pytest.fixture
def smtp_peer() -> Iterator[SmtpPeer]:
    peer = SmtpPeer()
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def site_with_smtp(demo_db_url: str, tmp_path: Path, smtp_peer: SmtpPeer) -> Iterator[tuple[Site, Mailbox]]:
    """The app with email configured towards a real local SMTP server, and that server's mailbox."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=demo_db_url,
        base_url="http://testserver",
        smtp_host="127.0.0.1",
        smtp_port=smtp_peer.port,
        smtp_starttls=False,
        smtp_sender="École <ecole@example.be>",
    )
    for site in _serve(settings):
        yield site, smtp_peer.mailbox


def mail_text(message: EmailMessage) -> str:
    """The plain-text body of a received mail (its HTML part when it has no text part)."""
    part = message.get_body(preferencelist=("plain", "html"))
    return str(part.get_content()) if part else ""
