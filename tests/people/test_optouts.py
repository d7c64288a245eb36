"""Opt-outs by topic: the rules (SMS keywords, what the router leaves out) with no database, and STOP NOTES sent
through the local Twilio peer, the notices then leaving through the real Twilio client to the same peer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from channels.peers.loopback import LoopbackServer
from channels.peers.twilio import TwilioPeer
from channels.sms import SmsAdapter, SmsSettings
from hub.delivery.dispatch import dispatch_due
from hub.enums import (
    AudienceKind,
    Category,
    Channel,
    ConsentPurpose,
    ConsentSource,
    ContactKind,
    GroupKind,
    Relation,
    StaffRole,
    Topic,
    Urgency,
)
from hub.messaging import inbound
from hub.messaging.models import Message, MessageAudience, Notice
from hub.messaging.planning import publish
from hub.messaging.routing import ContactInfo, GuardianProfile, channel_plan
from hub.people.gdpr_models import OptOut
from hub.people.models import (
    Consent,
    Contact,
    Group,
    Guardian,
    Guardianship,
    Membership,
    Pupil,
    School,
    Staff,
    StaffRoleGrant,
)
from hub.people.optout_rules import STOPPABLE_TOPICS, SmsCommand, parse_sms_command, sms_answer, stopped_channels
from hub.store.audit import AuditEntry

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 in Brussels: inside every charter window
TOKEN = "f" * 32
SID = "AC" + "0" * 32
PHONE = "+32470111222"
BASE = "http://127.0.0.1:8000"
ALL = frozenset(Channel)


# ------------------------------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    ("body", "topics"),
    [
        ("STOP NOTES", {Topic.RECORDS}),
        ("stop cijfers", {Topic.RECORDS}),
        ("Stop grades.", {Topic.RECORDS}),
        ("STOP Devoirs", {Topic.HOMEWORK}),
        ("STOP évènements", {Topic.EVENTS}),
        ("STOP NOTES DEVOIRS", {Topic.RECORDS, Topic.HOMEWORK}),
        ("STOP", set(STOPPABLE_TOPICS)),
        ("arrêt", set(STOPPABLE_TOPICS)),
    ],
)
def test_stop_keywords_name_their_topics_in_every_language(body: str, topics: set[Topic]) -> None:
    command = parse_sms_command(body)
    assert command is not None and not command.start and command.topics == topics


def test_absences_and_emergencies_cannot_be_stopped_and_other_texts_are_no_command() -> None:
    command = parse_sms_command("STOP URGENCES")
    assert command is not None and command.topics == frozenset() and command.refused == {Topic.EMERGENCIES}
    answer = sms_answer(command, "fr", has_portal=True)
    assert "ne peuvent pas etre arretees" in answer and "plus de SMS" not in answer
    assert parse_sms_command("START NOTES") == SmsCommand(True, frozenset({Topic.RECORDS}))
    assert parse_sms_command("oui") is None
    assert parse_sms_command("stopper la sortie de vendredi est-ce possible pour Lina svp merci") is None
    unknown = parse_sms_command("STOP FOO")
    assert unknown is not None and unknown.unknown == ("foo",)
    assert "STOP NOTES" in sms_answer(unknown, "fr", has_portal=True)


def test_the_answer_says_what_replaces_the_channel_and_what_is_kept() -> None:
    command = SmsCommand(False, frozenset({Topic.RECORDS}))
    assert "portaal" in sms_answer(command, "nl", has_portal=True)
    assert "papier" in sms_answer(command, "nl", has_portal=False)
    english = sms_answer(command, "en", has_portal=True)
    assert "grades" in english and "START GRADES" in english and "emergencies" in english


def test_stops_apply_to_their_topic_only_and_never_to_emergencies() -> None:
    stops = frozenset({(Topic.RECORDS, Channel.SMS), (Topic.EVENTS, None)})
    assert stopped_channels(stops, Category.GRADES) == {Channel.SMS}
    assert stopped_channels(stops, Category.REPORT_CARD) == {Channel.SMS}
    assert stopped_channels(stops, Category.TRIP) is None
    assert stopped_channels(stops, Category.INFORMATION) == frozenset()
    assert stopped_channels(stops, Category.TRIP, Urgency.EMERGENCY) == frozenset()
    everything = frozenset((t, None) for t in Topic)
    assert stopped_channels(everything, Category.ABSENCE) == frozenset()
    assert stopped_channels(everything, Category.SAFETY) == frozenset()


def _profile(stops: frozenset[tuple[Topic, Channel | None]], *, portal: bool = True) -> GuardianProfile:
    consents = {ConsentPurpose.EMAIL, ConsentPurpose.SMS} | ({ConsentPurpose.SCHOOL_MESSAGES} if portal else set())
    return GuardianProfile(
        guardian_id=1,
        contacts=(ContactInfo(ContactKind.EMAIL, "a@x.be"), ContactInfo(ContactKind.PHONE, PHONE)),
        consents=frozenset(consents),
        opt_outs=stops,
    )


def test_the_router_leaves_out_stopped_channels_and_the_portal_replaces_them() -> None:
    sms_only = _profile(frozenset({(Topic.RECORDS, Channel.SMS)}))
    assert channel_plan(sms_only, available_channels=ALL, category=Category.GRADES) == (
        Channel.PORTAL,
        Channel.EMAIL,
        Channel.LETTER,
    )
    assert Channel.SMS in channel_plan(sms_only, available_channels=ALL, category=Category.EVENT)
    both = _profile(frozenset({(Topic.RECORDS, Channel.SMS), (Topic.RECORDS, Channel.EMAIL)}))
    assert channel_plan(both, available_channels=ALL, category=Category.GRADES) == (Channel.PORTAL,)
    everywhere = _profile(frozenset({(Topic.RECORDS, None)}))
    assert channel_plan(everywhere, available_channels=ALL, category=Category.GRADES) == (Channel.PORTAL,)
    # an emergency, whatever its category, and an absence ignore every stop
    emergency = channel_plan(everywhere, available_channels=ALL, urgency=Urgency.EMERGENCY, category=Category.GRADES)
    assert emergency[:2] == (Channel.PORTAL, Channel.SMS)
    all_stopped = _profile(frozenset((t, None) for t in STOPPABLE_TOPICS))
    assert Channel.SMS in channel_plan(all_stopped, available_channels=ALL, category=Category.ABSENCE)
    # without the portal, paper is what is left
    no_portal = _profile(frozenset({(Topic.RECORDS, None)}), portal=False)
    assert channel_plan(no_portal, available_channels=ALL, category=Category.GRADES) == (Channel.LETTER,)


# ------------------------------------------------------------------------------------- STOP NOTES by SMS


@dataclass
class Hub:
    """The hub's inbound webhook in miniature: the same service function the route calls, on loopback."""

    server: LoopbackServer = field(default_factory=lambda: LoopbackServer("hub"))
    answers: list[str] = field(default_factory=list)

    @property
    def inbound_url(self) -> str:
        return f"{self.server.base_url}/hooks/twilio/inbound"

    async def inbound(self, request: web.Request) -> web.Response:
        form = await request.post()
        params = {key: str(value) for key, value in form.items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        result = await inbound.twilio_inbound(str(request.url), params, signature, TOKEN, MONDAY_10)
        self.answers.append(result.response_text)
        return web.Response(text=inbound.twiml(result), content_type="text/xml")


@pytest.fixture
async def hub_hooks() -> AsyncIterator[Hub]:
    hub = Hub()
    app = web.Application()
    app.router.add_post("/hooks/twilio/inbound", hub.inbound)
    await hub.server.serve(app)
    yield hub
    await hub.server.close()


async def _school() -> tuple[Staff, Staff, Group, Guardian]:
    school = await School.create(name="Athénée Royal")
    teacher = await Staff.create(school=school, first_name="Tom", last_name="T", email="t@school.be")
    await StaffRoleGrant.create(staff=teacher, role=StaffRole.TEACHER)
    principal = await Staff.create(school=school, first_name="Pia", last_name="P", email="p@school.be")
    await StaffRoleGrant.create(staff=principal, role=StaffRole.PRINCIPAL)
    group = await Group.create(school=school, kind=GroupKind.CLASS, code="3B", name="3B")
    pupil = await Pupil.create(school=school, external_id="P1", first_name="Lina", last_name="X")
    await Membership.create(group=group, pupil=pupil)
    guardian = await Guardian.create(school=school, external_id="G1", first_name="Anne", last_name="X")
    await Contact.create(guardian=guardian, kind=ContactKind.PHONE, value=PHONE, verified=True)
    for purpose in (ConsentPurpose.SCHOOL_MESSAGES, ConsentPurpose.SMS):
        await Consent.create(
            guardian=guardian,
            purpose=purpose,
            version="1",
            given_at=MONDAY_10 - timedelta(days=30),
            source=ConsentSource.PORTAL,
        )
    await Guardianship.create(pupil=pupil, guardian=guardian, relation=Relation.MOTHER)
    return teacher, principal, group, guardian


async def _send(
    author: Staff, group: Group, subject: str, category: Category, urgency: Urgency = Urgency.NORMAL
) -> Message:
    message = await Message.create(
        school_id=author.school_id,
        author=author,
        subject=subject,
        body="Bonjour.",
        category=category,
        urgency=urgency,
        urgency_reason="Fuite de gaz" if urgency is Urgency.EMERGENCY else "",
    )
    await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=group)
    await publish(
        message.id,
        now=MONDAY_10,
        actor_staff_id=author.id,
        available_channels=frozenset({Channel.PORTAL, Channel.SMS}),
    )
    return message


async def test_stop_notes_by_sms_stops_grades_on_sms_and_an_emergency_still_arrives_by_sms(
    db: str, hub_hooks: Hub
) -> None:
    teacher, principal, group, guardian = await _school()
    async with TwilioPeer(auth_token=TOKEN, account_sid=SID) as peer:
        call = await peer.send_inbound(hub_hooks.inbound_url, PHONE, "STOP NOTES")
        assert call.status == 200 and "OptOutType" not in call.params  # not one of Twilio's own keywords
        (answer,) = hub_hooks.answers
        assert "notes et bulletins" in answer and "portail" in answer and "urgences" in answer
        assert await OptOut.filter(guardian_id=guardian.id).values_list("topic", "channel") == [("records", "sms")]
        assert await AuditEntry.filter(action="optout.stopped", subject_id=str(guardian.id)).count() == 1

        grades = await _send(teacher, group, "Bulletin du 1er trimestre", Category.GRADES)
        trip = await _send(teacher, group, "Sortie au musée", Category.TRIP)
        emergency = await _send(principal, group, "Fermeture de l'école", Category.INFORMATION, Urgency.EMERGENCY)
        absence = await _send(teacher, group, "Absence de Lina", Category.ABSENCE)

        adapter = SmsAdapter(
            SmsSettings(SID, TOKEN, "+32460000000", f"{BASE}/hooks/twilio/status", base_url=peer.base_url)
        )
        try:
            report = await dispatch_due({Channel.SMS: adapter}, now=MONDAY_10, base_url=BASE)
        finally:
            await adapter.close()
        received = [m.body for m in peer.to(PHONE)]

    assert report.failed == 0
    assert (await Notice.get(message_id=grades.id)).plan == ["portal"]  # in the inbox, not by SMS, no letter
    assert not any("Bulletin" in body for body in received)
    for message in (trip, emergency, absence):
        assert any(message.subject[:12] in body for body in received), (message.subject, received)
    assert len(received) == 3
