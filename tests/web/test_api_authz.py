"""Who may read what through the JSON API: the issue's must-show.

A guardian changing an id in the address reaches nothing of another family (another household of the same
pupil included): every such id answers 404 with a body that says nothing more, exactly like an id that does
not exist. The parent barred by a court order reaches nothing about that child. A teacher reaches nothing of a
class they do not teach: not the class, not its pupils, not their records, not the messages addressed to it,
and cannot write to it. The kind of person, the session and the CSRF token are checked for every operation of
the route table, so a new operation is covered the day it is added.

The tests loop over every other family of a class, every class a teacher does not teach, and draw arbitrary
ids with hypothesis: not one example each.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.enums import AudienceKind, GroupKind, StaffRole
from hub.messaging.access import staff_pupil_ids
from hub.messaging.models import Acknowledgement, Message, MessageAudience, Notice, NoticePupil, SlipResponse
from hub.messaging.planning import publish
from hub.people.models import Group, Guardianship, Membership, Pupil, Staff, Teaching, WebSession
from hub.records.models import Evaluation
from hub.store.audit import AuditEntry
from hub.web.api import OPERATIONS
from hub.web.api_schema import API_PREFIX, Operation, PostIn, Who
from hub.web.kit import now
from tests.web.conftest import Site
from tests.web.test_api import PRINCIPAL, TEACHER, Api, count, publish_demo

NOT_FOUND = {"error": "not found"}
RECORDS = ("", "/grades", "/absences", "/journal", "/report-cards")


def assert_hidden(response: Any, *secrets: str) -> None:
    """404, and a body that tells nothing: not even which of "missing" or "not yours" it is."""
    assert response.status_code == 404, (response.request.url, response.text)
    assert response.json() == NOT_FOUND
    for secret in secrets:
        assert secret not in response.text


def stored(site: Site) -> dict[str, int]:
    """What an operation refused by the rules must leave as it was."""

    async def counts() -> dict[str, int]:
        return {
            "messages": await Message.all().count(),
            "acknowledgements": await Acknowledgement.all().count(),
            "answers": await SlipResponse.all().count(),
            "read": await Notice.filter(first_read_at__isnull=False).count(),
            "audit": await AuditEntry.exclude(action__endswith="login").count(),
            "signed_out": await WebSession.filter(revoked_at__isnull=False).count(),
        }

    return site.run(counts)


# -------------------------------------------------------------------------------------------- the demo


async def _class_families(code: str) -> dict[str, Any]:
    """The pupils of a class with their guardians (barred ones left out)."""
    group = await Group.get(kind=GroupKind.CLASS, code=code)
    pupils = await Membership.filter(group_id=group.id).values_list("pupil_id", flat=True)
    links = await Guardianship.filter(pupil_id__in=list(pupils), barred=False).values("pupil_id", "guardian_id")
    return {"group": group.id, "pupils": set(pupils), "links": links}


async def _notices(message_ids: list[int]) -> list[dict[str, Any]]:
    return await NoticePupil.filter(notice__message_id__in=message_ids).values(
        "notice_id", "pupil_id", "notice__guardian_id", "pupil__last_name"
    )


async def _own(guardian_id: int) -> tuple[set[int], set[int]]:
    """This guardian's notices and the pupils they may see, read straight from the tables."""
    notices = await Notice.filter(guardian_id=guardian_id).values_list("id", flat=True)
    pupils = await Guardianship.filter(guardian_id=guardian_id, barred=False).values_list("pupil_id", flat=True)
    return set(notices), set(pupils)


def _answer_body(pupil_id: int) -> dict[str, Any]:
    return {"pupil_id": pupil_id, "answers": {"1": True, "2": 1}, "signed_name": "X"}


# ------------------------------------------------------------------------------------------------ guardians


def test_a_guardian_reaches_nothing_of_any_other_family_of_the_class(site: Site) -> None:
    trip, news = publish_demo(site)
    family = site.run(_class_families, "3A")
    rows = site.run(_notices, [trip, news])
    guardians = sorted({link["guardian_id"] for link in family["links"]})
    assert len(guardians) > 20
    before = stored(site)
    checked = 0
    # Every guardian of the class, in turn, tries every other family's notices and pupils of the class.
    for guardian in guardians[::4]:
        api = Api(site).sign_in_guardian(guardian)
        own_notices, own_pupils = site.run(_own, guardian)
        assert own_notices and own_pupils
        for row in rows:
            if row["notice_id"] in own_notices or row["pupil_id"] not in family["pupils"]:
                continue
            notice, name = row["notice_id"], row["pupil__last_name"]
            assert_hidden(api.get(f"/notices/{notice}"), name)
            assert_hidden(api.post(f"/notices/{notice}/acknowledge"), name)
            assert_hidden(api.post(f"/notices/{notice}/answers", _answer_body(row["pupil_id"])), name)
            checked += 1
        for pupil in family["pupils"] - own_pupils:
            for record in RECORDS:
                assert_hidden(api.get(f"/pupils/{pupil}{record}"))
        listed = {item["id"] for item in api.get("/notices", params={"per_page": 100}).json()["items"]}
        assert listed == own_notices
        assert {p["id"] for p in api.get("/pupils").json()["items"]} == own_pupils
        # The guardian's own things do open: the 404s above are about whose they are.
        mine = min(own_notices)
        assert api.get(f"/notices/{mine}").status_code == 200
        assert api.get(f"/pupils/{min(own_pupils)}/grades").status_code == 200
    assert checked > 100
    after = stored(site)
    # Reading one's own notice is the only thing recorded: one first reading per guardian, nothing else.
    assert after["read"] == before["read"] + len(guardians[::4])
    assert {k: v for k, v in after.items() if k != "read"} == {k: v for k, v in before.items() if k != "read"}


def test_separated_parents_each_have_their_own_copy(site: Site) -> None:
    """The other parent of the same child is another household: their copy answers 404 too."""
    trip, _news = publish_demo(site)
    rows = site.run(_notices, [trip])
    by_pupil: dict[int, set[int]] = {}
    notice_of: dict[int, int] = {}
    for row in rows:
        by_pupil.setdefault(row["pupil_id"], set()).add(row["notice__guardian_id"])
        notice_of[row["notice__guardian_id"]] = row["notice_id"]
    pairs = [sorted(guardians) for guardians in by_pupil.values() if len(guardians) >= 2]
    assert pairs
    for first, second, *_ in pairs:
        api = Api(site).sign_in_guardian(first)
        assert api.get(f"/notices/{notice_of[first]}").status_code == 200
        assert_hidden(api.get(f"/notices/{notice_of[second]}"))
        assert_hidden(api.post(f"/notices/{notice_of[second]}/acknowledge"))


def test_any_id_a_guardian_makes_up_answers_404_unless_it_is_theirs(site: Site) -> None:
    publish_demo(site)
    family = site.run(_class_families, "3A")
    api = Api(site).sign_in_guardian(family["links"][0]["guardian_id"])
    own_notices, own_pupils = site.run(_own, api.actor["id"])

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        notice=st.one_of(st.sampled_from(sorted(own_notices)), st.integers(min_value=-5, max_value=3000)),
        pupil=st.one_of(st.sampled_from(sorted(own_pupils)), st.integers(min_value=-5, max_value=600)),
        record=st.sampled_from(RECORDS),
    )
    def probe(notice: int, pupil: int, record: str) -> None:
        for path, own in (
            (f"/notices/{notice}", notice in own_notices),
            (f"/pupils/{pupil}{record}", pupil in own_pupils),
        ):
            response = api.get(path)
            assert response.status_code == (200 if own else 404), path
            if not own:
                assert response.json() == NOT_FOUND or response.json() == {"error": "Not Found"}  # a negative id

    probe()


async def _barred() -> dict[str, Any]:
    link = await Guardianship.get(barred=True)
    return {"guardian": link.guardian_id, "pupil": link.pupil_id}  # type: ignore[attr-defined]


def test_the_barred_parent_reaches_nothing_about_that_child(site: Site) -> None:
    assert count(site, Guardianship, barred=True) == 1  # the demo's one court order
    trip, news = publish_demo(site)
    barred = site.run(_barred)
    child = barred["pupil"]
    api = Api(site).sign_in_guardian(barred["guardian"])
    for record in RECORDS:
        assert_hidden(api.get(f"/pupils/{child}{record}"))
    assert child not in {p["id"] for p in api.get("/pupils").json()["items"]}
    naming_child = [row for row in site.run(_notices, [trip, news]) if row["pupil_id"] == child]
    assert naming_child  # the other parent was told
    for row in naming_child:
        assert row["notice__guardian_id"] != barred["guardian"]  # the barred one never was
        assert_hidden(api.get(f"/notices/{row['notice_id']}"), row["pupil__last_name"])
        assert_hidden(api.post(f"/notices/{row['notice_id']}/answers", _answer_body(child)))
    for item in api.get("/notices", params={"per_page": 100}).json()["items"]:
        assert child not in [p["id"] for p in item["pupils"]]


async def _bar(guardian_id: int, pupil_id: int) -> None:
    await Guardianship.filter(guardian_id=guardian_id, pupil_id=pupil_id).update(barred=True)


def test_a_court_order_after_the_message_hides_it(site: Site) -> None:
    """Bars recorded after publishing hide the notices already sent about that child."""
    trip, _news = publish_demo(site)
    rows = [row for row in site.run(_notices, [trip])]
    single: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        single.setdefault(row["notice_id"], []).append(row)
    notice, (row,) = next((n, r) for n, r in single.items() if len(r) == 1)
    api = Api(site).sign_in_guardian(row["notice__guardian_id"])
    assert api.get(f"/notices/{notice}").status_code == 200
    site.run(_bar, row["notice__guardian_id"], row["pupil_id"])
    assert_hidden(api.get(f"/notices/{notice}"))
    assert_hidden(api.post(f"/notices/{notice}/acknowledge"))
    assert_hidden(api.get(f"/pupils/{row['pupil_id']}/grades"))
    assert notice not in {item["id"] for item in api.get("/notices", params={"per_page": 100}).json()["items"]}


# ---------------------------------------------------------------------------------------------------- staff


async def _school_view(email: str) -> dict[str, Any]:
    staff = await Staff.get(email=email)
    taught = set(await Teaching.filter(staff_id=staff.id).values_list("group_id", flat=True))
    groups = await Group.filter(school_id=staff.school_id).values("id", "kind", "code")  # type: ignore[attr-defined]
    seen = await staff_pupil_ids(staff.id, frozenset({StaffRole.TEACHER}), staff.school_id)  # type: ignore[attr-defined]
    members = await Membership.filter(pupil__active=True).values_list("group_id", "pupil_id")
    pupils = await Pupil.filter(active=True).values("id", "last_name")
    return {"staff": staff.id, "taught": taught, "groups": groups, "seen": seen, "members": members, "pupils": pupils}


async def _publish_to(group_ids: list[int], author_email: str) -> dict[int, int]:
    """One message per group, written and published by ``author_email``: {group: message}."""
    author = await Staff.get(email=author_email)
    made = {}
    for group in group_ids:
        message = await Message.create(
            school_id=author.school_id,  # type: ignore[attr-defined]
            author_id=author.id,
            subject=f"Pour le groupe {group}",
            body="Réunion.",
        )
        await MessageAudience.create(message_id=message.id, kind=AudienceKind.GROUP, group_id=group)
        await publish(message.id, now=now(), actor_staff_id=author.id)
        made[group] = message.id
    return made


def test_a_teacher_reaches_nothing_of_a_class_they_do_not_teach(site: Site) -> None:
    view = site.run(_school_view, TEACHER)
    taught = view["taught"]
    others = [g["id"] for g in view["groups"] if g["id"] not in taught]
    foreign = [
        g["id"] for g in view["groups"] if g["kind"] in (GroupKind.CLASS, GroupKind.COURSE) and g["id"] not in taught
    ]
    assert taught and len(foreign) > 20
    messages = site.run(_publish_to, foreign, PRINCIPAL)
    trip, news = publish_demo(site)
    api = Api(site).sign_in_staff(TEACHER)
    before = stored(site)

    for group in others:  # every class, course and level they do not teach, and the school
        assert_hidden(api.get(f"/groups/{group}/pupils"))
    names = {p["id"]: p["last_name"] for p in view["pupils"]}
    strangers = sorted(set(names) - view["seen"])
    assert len(strangers) > 300
    for pupil in strangers:
        for record in RECORDS:
            assert_hidden(api.get(f"/pupils/{pupil}{record}"), names[pupil])
    for message in [*messages.values(), news]:
        for part in ("", "/responses", "/progress"):
            assert_hidden(api.get(f"/messages/{message}{part}"))
    listed = {m["id"] for m in api.get("/messages", params={"per_page": 100}).json()["items"]}
    assert trip in listed and not listed & {*messages.values(), news}

    # Writing to them is refused, and nothing is stored.
    for group in others:
        refused = api.post("/messages", _note([{"kind": "group", "id": group}]))
        assert refused.status_code == 403, refused.text
    for pupil in strangers[:: max(1, len(strangers) // 40)]:
        assert api.post("/messages", _note([{"kind": "pupil", "id": pupil}])).status_code == 403
    assert api.post("/messages", _note([{"kind": "school"}])).status_code == 403
    mixed = [{"kind": "group", "id": min(taught)}, {"kind": "group", "id": others[0]}]
    assert api.post("/messages", _note(mixed)).status_code == 403
    assert stored(site) == before

    # What they teach does open.
    for group in taught:
        assert api.get(f"/groups/{group}/pupils").status_code == 200
    for pupil in sorted(view["seen"])[:10]:
        assert api.get(f"/pupils/{pupil}").status_code == 200
    assert api.get(f"/messages/{trip}/responses").status_code == 200


def _note(audience: list[dict[str, Any]]) -> dict[str, Any]:
    return {"subject": "Rappel", "body": "Apporter le matériel.", "audience": audience}


def test_other_teachers_of_a_class_see_only_their_pupils_families(site: Site) -> None:
    """A message to two classes: a teacher of one of them reads it, but the answers of their pupils' families
    only."""
    view = site.run(_school_view, TEACHER)
    mine = next(g["id"] for g in view["groups"] if g["id"] in view["taught"] and g["kind"] == GroupKind.CLASS)
    other = next(g["id"] for g in view["groups"] if g["id"] not in view["taught"] and g["kind"] == GroupKind.CLASS)
    principal = Api(site).sign_in_staff(PRINCIPAL)
    sent = principal.post("/messages", _note([{"kind": "group", "id": mine}, {"kind": "group", "id": other}]))
    assert sent.status_code == 201, sent.text
    message = sent.json()["id"]
    everyone = principal.get(f"/messages/{message}/responses", params={"per_page": 100}).json()
    api = Api(site).sign_in_staff(TEACHER)
    theirs = api.get(f"/messages/{message}/responses", params={"per_page": 100}).json()
    assert 0 < theirs["total"] < everyone["total"]
    for row in theirs["items"]:
        assert row["pupils"] and {p["id"] for p in row["pupils"]} <= view["seen"]


# ------------------------------------------------------------------------------- every operation of the table


async def _teachers_evaluation(email: str) -> int:
    """An evaluation of the first class or course this teacher teaches, in their subject there."""
    staff = await Staff.get(email=email)
    teaching = await Teaching.filter(staff_id=staff.id).order_by("group_id").first()
    assert teaching is not None
    evaluation = await Evaluation.create(
        school_id=staff.school_id,  # type: ignore[attr-defined]
        group_id=teaching.group_id,  # type: ignore[attr-defined]
        teacher_id=staff.id,
        subject=teaching.subject,
        title="Interro",
        term="T2",
        assessed_on=now().date(),
        max_score=20,
    )
    return evaluation.id


def _sample_ids(site: Site) -> dict[str, dict[str, int]]:
    """For each kind of person, ids of the path that are theirs to use (so only the rule under test refuses)."""
    trip, _news = publish_demo(site)
    rows = site.run(_notices, [trip])
    view = site.run(_school_view, TEACHER)
    guardian_row = rows[0]
    return {
        "guardian": {
            "notice_id": guardian_row["notice_id"],
            "pupil_id": guardian_row["pupil_id"],
            "guardian": guardian_row["notice__guardian_id"],
        },
        "staff": {
            "message_id": trip,
            "group_id": min(view["taught"]),
            "pupil_id": min(view["seen"]),
            "notice_id": guardian_row["notice_id"],
            "evaluation_id": site.run(_teachers_evaluation, TEACHER),
        },
    }


def _url(op: Operation, ids: dict[str, int]) -> str:
    path = op.path
    for name in op.path_params:
        path = path.replace(f"{{{name}}}", str(ids.get(name, 1)))
    return path


def _body(op: Operation, ids: dict[str, int]) -> Any:
    if op.body is None:
        return None
    if op.path.endswith("/answers"):
        return _answer_body(ids["pupil_id"])
    if op.path == f"{API_PREFIX}/messages":
        return _note([{"kind": "group", "id": ids["group_id"]}])
    if op.body is PostIn:
        return {"body": "Une question"}
    if op.path == f"{API_PREFIX}/evaluations":
        return {"group_id": ids["group_id"], "subject": "Mathématiques", "title": "Interro", "term": "T2",
                "assessed_on": "2026-12-07", "max_score": 20}  # fmt: skip
    if op.path.endswith("/grades"):
        return {"grades": [{"pupil_id": ids["pupil_id"], "score": 10}]}
    today = now().date().isoformat()
    if op.path == f"{API_PREFIX}/groups/{{group_id}}/register":
        return {"date": today, "period": 1, "marks": []}
    if op.path == f"{API_PREFIX}/groups/{{group_id}}/journal":
        return {"kind": "homework", "subject": "Math", "text": "Ex. 3",
                "on_date": today, "due_on": today}  # fmt: skip
    raise AssertionError(f"a body for {op.method} {op.path}: add it here")


def _call(site: Site, op: Operation, ids: dict[str, int], headers: dict[str, str] | None = None) -> Any:
    return site.client.request(op.method, _url(op, ids), json=_body(op, ids), headers=headers or {})


GUARDED = [op for op in OPERATIONS if op.who is not Who.PUBLIC]


@pytest.mark.parametrize("op", GUARDED, ids=lambda op: f"{op.method} {op.path}")
def test_no_session_gets_401(site: Site, op: Operation) -> None:
    ids = _sample_ids(site)
    before = stored(site)
    response = _call(site, op, {**ids["guardian"], **ids["staff"]})
    assert response.status_code == 401 and "sign in" in response.json()["error"]
    assert stored(site) == before


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.who in (Who.STAFF, Who.GUARDIAN)], ids=str)
def test_the_wrong_kind_of_person_gets_403(site: Site, op: Operation) -> None:
    ids = _sample_ids(site)
    api = Api(site)
    if op.who is Who.STAFF:
        api.sign_in_guardian(ids["guardian"]["guardian"])
    else:
        api.sign_in_staff(PRINCIPAL)  # even the whole school's view is not a parent's
    before = stored(site)
    response = _call(site, op, {**ids["guardian"], **ids["staff"]}, {"X-CSRF-Token": api.csrf})
    assert response.status_code == 403 and response.json() == {"error": f"for {op.who} only"}
    assert stored(site) == before


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.needs_csrf], ids=str)
def test_a_change_without_the_csrf_token_gets_403_and_stores_nothing(site: Site, op: Operation) -> None:
    ids = _sample_ids(site)
    api = Api(site)
    kind = "staff" if op.who is Who.STAFF else "guardian"
    if kind == "staff":
        api.sign_in_staff(TEACHER)
    else:
        api.sign_in_guardian(ids["guardian"]["guardian"])
    before = stored(site)
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": api.csrf, "Origin": "https://evil.example"}):
        response = _call(site, op, ids[kind], headers)
        assert response.status_code == 403, (headers, response.text)
    assert stored(site) == before
    # With the token, the same request goes through (so the 403s above were the token's doing).
    assert _call(site, op, ids[kind], {"X-CSRF-Token": api.csrf}).status_code < 300
