"""Consent for a pupil by both guardians: the rule, and two separated parents disagreeing on photos on the real
app: both see the conflict, the office sees it, and the restrictive answer applies until they agree."""

from __future__ import annotations

import pytest

from hub.demo.school import STAFF_DOMAIN
from hub.enums import ConsentPurpose, ConsentSource
from hub.people.models import Guardianship
from hub.people.pupil_consent import NotEntitled, PupilConsentState, answer, pupil_consents, pupil_state
from hub.store.audit import AuditEntry
from hub.web.kit import now
from tests.web.conftest import Site


@pytest.mark.parametrize(
    ("answers", "state", "allowed"),
    [
        ({1: None, 2: None}, PupilConsentState.NONE, False),
        ({1: True, 2: None}, PupilConsentState.GIVEN, True),
        ({1: True, 2: True}, PupilConsentState.GIVEN, True),
        ({1: False, 2: None}, PupilConsentState.REFUSED, False),
        ({1: True, 2: False}, PupilConsentState.CONFLICT, False),
        ({}, PupilConsentState.NONE, False),
    ],
)
def test_the_restrictive_answer_applies_when_guardians_disagree(
    answers: dict[int, bool | None], state: PupilConsentState, allowed: bool
) -> None:
    assert pupil_state(answers) == (state, allowed)


async def _two_parents() -> tuple[int, int, int]:
    """A demo pupil with two guardians who may answer for them."""
    rows = await Guardianship.filter(may_answer=True, barred=False).order_by("pupil_id", "guardian_id")
    by_pupil: dict[int, list[int]] = {}
    for row in rows:
        by_pupil.setdefault(row.pupil_id, []).append(row.guardian_id)
    pupil, (first, second, *_rest) = next((p, g) for p, g in by_pupil.items() if len(g) >= 2)
    return pupil, first, second


def test_two_guardians_disagreeing_on_photos_show_the_conflict_to_everyone(site: Site) -> None:
    pupil, mother, father = site.run(_two_parents)
    page = f"/portal/children/{pupil}/consents"
    site.login_guardian(mother)
    assert site.post(page, {"purpose": "photos", "answer": "yes"}, form_page=page).status_code == 303
    assert site.run(pupil_consents, pupil)[ConsentPurpose.PHOTOS].allowed  # one yes, no no: allowed
    site.login_guardian(father)
    assert site.post(page, {"purpose": "photos", "answer": "no"}, form_page=page).status_code == 303

    view = site.run(pupil_consents, pupil)[ConsentPurpose.PHOTOS]
    assert view.state is PupilConsentState.CONFLICT and not view.allowed
    assert site.run(pupil_consents, pupil)[ConsentPurpose.RECORDS_ONLINE].state is PupilConsentState.NONE
    for guardian in (father, mother):
        site.login_guardian(guardian)
        text = site.client.get(page).text
        assert 'data-state="conflict"' in text and "ne sont pas d" in text.replace("&#39;", "'")
    site.login_staff(f"secretariat@{STAFF_DOMAIN}")
    office = site.client.get(f"/staff/pupils/{pupil}/consents").text
    assert 'data-state="conflict"' in office

    # they agree: the conflict is resolved
    site.login_guardian(mother)
    assert site.post(page, {"purpose": "photos", "answer": "no"}, form_page=page).status_code == 303
    assert site.run(pupil_consents, pupil)[ConsentPurpose.PHOTOS].state is PupilConsentState.REFUSED
    assert site.run(lambda: AuditEntry.filter(action="pupil_consent.answered").count()) == 3

    # bad input: 400, nothing stored; another family's child: 404
    assert site.post(page, {"purpose": "channel_sms", "answer": "yes"}, form_page=page).status_code == 400
    assert site.post(page, {"purpose": "photos", "answer": "maybe"}, form_page=page).status_code == 400
    assert site.run(lambda: AuditEntry.filter(action="pupil_consent.answered").count()) == 3
    assert site.client.get("/portal/children/2147483647/consents").status_code == 404


def test_only_an_entitled_guardian_answers(site: Site) -> None:
    pupil, _mother, _father = site.run(_two_parents)

    async def stranger() -> int:
        linked = await Guardianship.filter(pupil_id=pupil).values_list("guardian_id", flat=True)
        row = await Guardianship.exclude(guardian_id__in=list(linked)).first()
        assert row is not None
        return row.guardian_id

    other = site.run(stranger)
    with pytest.raises(NotEntitled):
        site.run(lambda: answer(pupil, other, ConsentPurpose.PHOTOS, True, source=ConsentSource.PORTAL, at=now()))


def test_records_are_not_shown_online_while_the_parents_disagree(site: Site) -> None:
    import datetime as dt

    from hub.records.family import child_record
    from hub.records.models import Grade

    pupil, mother, father = site.run(_two_parents)

    async def publish_grade() -> None:
        await Grade.create(
            pupil_id=pupil,
            subject="Math",
            title="Contrôle surprise W13",
            term="T1",
            score=14,
            max_score=20,
            assessed_on=dt.date(2026, 11, 20),
            published_at=now(),
        )

    site.run(publish_grade)
    today = dt.date(2026, 12, 8)
    assert site.run(child_record, mother, pupil, now(), today).grades  # nobody refused: shown as before
    site.run(lambda: answer(pupil, mother, ConsentPurpose.RECORDS_ONLINE, True, source=ConsentSource.PORTAL, at=now()))
    site.run(lambda: answer(pupil, father, ConsentPurpose.RECORDS_ONLINE, False, source=ConsentSource.PORTAL, at=now()))
    record = site.run(child_record, mother, pupil, now(), today)
    assert record is not None and not record.records_online and record.grades == [] and record.report_cards == []
    site.login_guardian(mother)
    page = site.client.get(f"/portal/children/{pupil}")
    assert page.status_code == 200 and 'data-state="records-offline"' in page.text
    assert "Contrôle surprise W13" not in page.text
