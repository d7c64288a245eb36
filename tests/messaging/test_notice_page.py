"""The page a guardian's personal link opens, in a real app: reading is recorded, "I have read" acknowledges (a
form with its CSRF token: one without is refused and changes nothing)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

from starlette.testclient import TestClient

from hub.config import Settings
from hub.demo.school import generate_demo, publish_demo_messages
from hub.enums import Channel
from hub.messaging.models import Acknowledgement, Message, Notice
from hub.store import db
from hub.web import create_app

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _trip_notice(settings: Settings) -> tuple[str, str]:
    async with db.open_db(settings):
        await generate_demo(seed=2026)
        trip_id, _ = await publish_demo_messages(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
        trip = await Message.get(id=trip_id)
        notice = await Notice.filter(message=trip).order_by("id").first()
        assert notice is not None and trip.needs_acknowledgement
        return notice.token, trip.subject


async def _state(settings: Settings, token: str) -> tuple[datetime | None, list[str]]:
    async with db.open_db(settings, run_migrations=False):
        notice = await Notice.get(token=token)
        channels = await Acknowledgement.filter(notice_id=notice.id).values_list("channel", flat=True)
        return notice.first_read_at, [str(c) for c in channels]


def test_a_personal_link_opens_the_message_and_acknowledges(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    token, subject = asyncio.run(_trip_notice(settings))
    with TestClient(create_app(settings)) as client:
        page = client.get(f"/n/{token}")
        assert page.status_code == 200
        assert subject in page.text and "Concerne" in page.text and "J'ai lu ce message" in page.text
        csrf = _CSRF.search(page.text)
        assert csrf, "the acknowledgement form carries a CSRF token"
        form = {"csrf_token": csrf.group(1)}
        assert client.post(f"/n/{token}/ack", follow_redirects=False).status_code == 403  # a forged form
        done = client.post(f"/n/{token}/ack", data=form, follow_redirects=True)
        assert done.status_code == 200 and "vous avez confirmé avoir lu" in done.text
        client.post(f"/n/{token}/ack", data=form)  # a second press changes nothing
        assert client.get("/n/not-a-real-token").status_code == 404
        assert client.post("/n/not-a-real-token/ack", data=form).status_code == 404
    first_read_at, acknowledgements = asyncio.run(_state(settings, token))
    assert first_read_at is not None
    assert acknowledgements == [str(Channel.PORTAL)]
