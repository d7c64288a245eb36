"""A guardian's inbox costs a fixed number of SQL statements, whatever it holds: counted on the real app (not
timed), before and after thirty more messages reach the family."""

from __future__ import annotations

from hub.demo.guide import demo_guide
from hub.enums import AudienceKind, Channel, StaffRole
from hub.messaging.models import Message, MessageAudience
from hub.messaging.planning import publish
from hub.people.models import Guardianship, Staff
from hub.testing.scale import Statements, count_statements
from hub.web.kit import now
from tests.web.conftest import Site


async def _parent() -> tuple[int, int]:
    guide = await demo_guide()
    assert guide is not None and guide.separated_parents
    guardian_id = guide.separated_parents[0].guardian_id
    pupil_id = (
        await Guardianship.filter(guardian_id=guardian_id)
        .order_by("pupil_id")
        .first()
        .values_list("pupil_id", flat=True)
    )
    return guardian_id, int(pupil_id)  # type: ignore[arg-type]


async def _more_messages(pupil_id: int, count: int) -> None:
    principal = await Staff.filter(roles__role=StaffRole.PRINCIPAL).first()
    assert principal is not None
    for i in range(count):
        message = await Message.create(
            school_id=principal.school_id, author=principal, subject=f"Information {i}", body="Bonjour."
        )
        await MessageAudience.create(message=message, kind=AudienceKind.PUPIL, pupil_id=pupil_id)
        await publish(
            message.id, now=now(), actor_staff_id=principal.id, available_channels=frozenset({Channel.PORTAL})
        )


def _inbox(site: Site) -> Statements:
    with count_statements() as statements:
        response = site.client.get("/portal")
    assert response.status_code == 200, response.text
    return statements


def test_the_inbox_costs_the_same_statements_whatever_it_holds(site: Site) -> None:
    guardian_id, pupil_id = site.run(_parent)
    site.login_guardian(guardian_id)
    site.run(_more_messages, pupil_id, 2)
    _inbox(site)  # the first request of a session may refresh it
    few = _inbox(site)
    site.run(_more_messages, pupil_id, 30)
    many = _inbox(site)
    assert "Information 29" in site.client.get("/portal").text
    assert many.count == few.count, "\n".join(q[:300] for q, _n in many.sent)
    sessions = [q for q, _n in many.sent if "web_session" in q or "guardian_session" in q]
    assert len(sessions) <= 1, sessions
    # The session with its guardian and the layout's school name (one), the family with the page's lines (one),
    # and no statement whose arguments follow the number of notices.
    assert many.count <= 2, "\n".join(q[:300] for q, _n in many.sent)
    schools = [q for q, _n in many.sent if "FROM school" in q.replace('"', "") and "web_session" not in q]
    assert not schools, schools  # the school's name comes with the session
    guardians = [q for q, _n in many.sent if 'FROM "guardian"' in q and "web_session" not in q]
    assert not guardians, guardians  # the signed-in guardian comes with the session
    assert many.most_arguments == few.most_arguments


def test_every_page_of_the_inbox_costs_the_same_statements(site: Site) -> None:
    guardian_id, pupil_id = site.run(_parent)
    site.login_guardian(guardian_id)
    site.run(_more_messages, pupil_id, 45)
    _inbox(site)
    counts = set()
    for path in ("/portal", "/portal?page=2", "/portal?page=3", "/portal?page=99", f"/portal?pupil={pupil_id}"):
        with count_statements() as statements:
            response = site.client.get(path)
        assert response.status_code == 200, response.text
        counts.add(statements.count)
    assert len(counts) == 1, counts
    last = site.client.get("/portal?page=99").text  # past the last page: the last page
    assert "Information 0" in last and "Information 44" not in last
