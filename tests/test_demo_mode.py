"""`scripts/demo` mode: local providers and a worker inside the web process; the outbox shows what went out."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from starlette.testclient import TestClient

from hub import db
from hub.config import Settings
from hub.demo import generate_demo
from hub.enums import AudienceKind, GroupKind, StaffRole, Urgency
from hub.models import Group, Message, MessageAudience, School, Staff
from hub.planning import publish
from hub.web import create_app


async def _school_with_an_emergency(settings: Settings) -> None:
    async with db.open_db(settings):
        await generate_demo(seed=2026)
        school = await School.get()
        principal = await Staff.get(roles__role=StaffRole.PRINCIPAL)
        message = await Message.create(
            school=school,
            author=principal,
            subject="Fermeture de l'école",
            body="Une fuite de gaz oblige l'école à fermer. Venez chercher vos enfants.",
            urgency=Urgency.EMERGENCY,
            urgency_reason="fuite de gaz signalée par les pompiers",
        )
        class_1a = await Group.get(school=school, kind=GroupKind.CLASS, code="1A")
        await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=class_1a)
        # An emergency goes at once, whatever the hour at which the test runs.
        await publish(message.id, now=datetime.now(UTC), actor_staff_id=principal.id)


def test_the_demo_worker_sends_to_the_local_providers_and_the_outbox_shows_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, demo_peers=True)
    asyncio.run(_school_with_an_emergency(settings))
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 30
        page = ""
        while time.monotonic() < deadline:
            page = client.get("/demo/outbox").text
            if "Fermeture de l&#39;école" in page and "sms" in page:
                break
            time.sleep(0.5)
        assert "Fermeture de l&#39;école" in page  # the email, with its subject
        assert "<td>sms</td>" in page  # an emergency goes by SMS first where consented
    with TestClient(create_app(Settings(data_dir=tmp_path))) as plain:
        assert plain.get("/demo/outbox").status_code == 404  # only in the demo
