"""Consent for a pupil, by the guardians: for the purposes about the pupil (photos on the school's site, records
shown online) each guardian with the right to answer for the pupil answers for themselves, and the pupil's consent
is read from all their answers.

The rule (:func:`pupil_state`): a "no" from any of them, facing a "yes" from another, is a CONFLICT, shown to
the school and to every guardian, and the restrictive answer applies (not allowed) until they agree. A "yes" with
no "no" is allowed: one parent acting in good faith is presumed to act with the other's agreement (Belgian civil
code, art. 374), until the other says no. No answer at all: not allowed, nobody consented.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from hub.enums import ActorKind, ConsentPurpose, ConsentSource
from hub.people.gdpr_models import PupilConsent
from hub.people.models import Guardianship
from hub.store.audit import audit

__all__ = [
    "PUPIL_PURPOSES",
    "NotEntitled",
    "PupilConsentState",
    "PupilConsentView",
    "answer",
    "pupil_consents",
    "pupil_state",
]

#: The purposes about a pupil rather than about the guardian.
PUPIL_PURPOSES: tuple[ConsentPurpose, ...] = (ConsentPurpose.PHOTOS, ConsentPurpose.RECORDS_ONLINE)


class PupilConsentState(StrEnum):
    NONE = "none"  #: nobody answered
    GIVEN = "given"  #: every answer is yes (one is enough while the others have not answered)
    REFUSED = "refused"  #: every answer is no
    CONFLICT = "conflict"  #: yes and no: the restrictive answer applies until the guardians agree


class NotEntitled(PermissionError):
    """This guardian may not answer for this pupil (no link, barred, or without the right to answer)."""


@dataclass(frozen=True)
class PupilConsentView:
    purpose: ConsentPurpose
    state: PupilConsentState
    allowed: bool
    #: Each guardian with the right to answer, and their answer (None: not yet).
    answers: tuple[tuple[int, bool | None], ...]


def pupil_state(answers: Mapping[int, bool | None]) -> tuple[PupilConsentState, bool]:
    """The pupil's consent from the answers of the guardians entitled to give it: the state and whether the
    purpose is allowed."""
    given = [value for value in answers.values() if value is not None]
    if not given:
        return PupilConsentState.NONE, False
    if all(given):
        return PupilConsentState.GIVEN, True
    if not any(given):
        return PupilConsentState.REFUSED, False
    return PupilConsentState.CONFLICT, False


async def _entitled(pupil_id: int) -> list[int]:
    rows = await Guardianship.filter(pupil_id=pupil_id, may_answer=True, barred=False, guardian__erased_at__isnull=True)
    return sorted(row.guardian_id for row in rows)


async def answer(
    pupil_id: int,
    guardian_id: int,
    purpose: ConsentPurpose,
    granted: bool,
    *,
    source: ConsentSource,
    at: dt.datetime,
    actor_kind: ActorKind = ActorKind.GUARDIAN,
    actor_id: int | None = None,
) -> PupilConsentView:
    """Record one guardian's answer (replacing their previous one), audited; the pupil's consent after it."""
    purpose = ConsentPurpose(purpose)
    if purpose not in PUPIL_PURPOSES:
        raise ValueError(f"{purpose} is not a purpose about a pupil")
    if guardian_id not in await _entitled(pupil_id):
        raise NotEntitled(f"guardian {guardian_id} may not answer for pupil {pupil_id}")
    await PupilConsent.update_or_create(
        defaults={"granted": granted, "source": source, "at": at},
        pupil_id=pupil_id,
        guardian_id=guardian_id,
        purpose=purpose,
    )
    view = (await pupil_consents(pupil_id))[purpose]
    await audit(
        "pupil_consent.answered",
        at=at,
        actor_kind=actor_kind,
        actor_id=guardian_id if actor_kind is ActorKind.GUARDIAN else actor_id,
        subject_type="pupil",
        subject_id=pupil_id,
        guardian_id=guardian_id,
        purpose=str(purpose),
        granted=granted,
        state=str(view.state),
        source=str(source),
    )
    return view


async def pupil_consents(pupil_id: int) -> dict[ConsentPurpose, PupilConsentView]:
    """The pupil's consent for each purpose about them, from the answers of the guardians entitled now."""
    entitled = await _entitled(pupil_id)
    rows = await PupilConsent.filter(pupil_id=pupil_id, guardian_id__in=entitled).values_list(
        "guardian_id", "purpose", "granted"
    )
    given = {(guardian_id, ConsentPurpose(purpose)): bool(granted) for guardian_id, purpose, granted in rows}
    views = {}
    for purpose in PUPIL_PURPOSES:
        answers = {guardian_id: given.get((guardian_id, purpose)) for guardian_id in entitled}
        state, allowed = pupil_state(answers)
        views[purpose] = PupilConsentView(purpose, state, allowed, tuple(answers.items()))
    return views
