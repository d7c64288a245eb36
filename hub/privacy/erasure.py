"""A guardian's erasure on request (GDPR art. 17), done by the school's office and written to the audit log.

What goes: the guardian's name, postal address, contacts (with their verification codes and the rate-limit keys
made of them), password, sessions and sign-in links, preferences, quiet hours, opt-outs, the name they signed
reply slips with, and the household's address when nobody else still lives there. What stays, without identity:
the guardian's row (its id, the enrolment software's id so that a roster import never brings the data back, the
date of the erasure), their notices, deliveries, acknowledgements and answers, so the principal's report counts
the same and the other parent still sees that the slip was answered, and what; their consents, as evidence that
processing was lawful while it lasted. The audit log holds ids and counts only (``hub.store.audit``), so it needs
no change, and the subjects staff read there (``guardian`` and an id) name nobody once the row is anonymised.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from hub.enums import ActorKind
from hub.messaging.models import SlipResponse
from hub.people.gdpr_models import OptOut
from hub.people.models import (
    ChannelPreference,
    Contact,
    Guardian,
    Household,
    SignInLink,
    Throttle,
    WebSession,
)
from hub.store.audit import audit

__all__ = ["ErasureError", "ErasureReport", "erase_guardian"]


class ErasureError(LookupError):
    """No guardian with this id in the school, or already erased."""


@dataclass(frozen=True)
class ErasureReport:
    guardian_id: int
    contacts: int
    sessions: int
    signed_answers: int
    household_cleared: bool


async def erase_guardian(guardian_id: int, school_id: int, *, by_staff_id: int, at: dt.datetime) -> ErasureReport:
    """Erase one guardian's personal data (see the module's note), in one transaction, audited with the staff
    member who did it. Raises :class:`ErasureError` when there is no such guardian or they are erased already."""
    async with in_transaction():
        guardian = (
            await Guardian.filter(id=guardian_id, school_id=school_id, erased_at__isnull=True)
            .select_for_update()
            .first()
        )
        if guardian is None:
            raise ErasureError(f"no guardian {guardian_id} to erase")
        values = list(await Contact.filter(guardian_id=guardian_id).values_list("value", flat=True))
        contacts = len(values)
        await Contact.filter(guardian_id=guardian_id).delete()  # verification codes go with them
        for value in values:  # the sign-in throttles are keyed by the address typed
            await Throttle.filter(key__endswith=f":{str(value).lower()}").delete()
        sessions = await WebSession.filter(guardian_id=guardian_id).delete()
        await SignInLink.filter(guardian_id=guardian_id).delete()
        await ChannelPreference.filter(guardian_id=guardian_id).delete()
        await OptOut.filter(guardian_id=guardian_id).delete()
        signed = await SlipResponse.filter(guardian_id=guardian_id).exclude(signed_name="").update(signed_name="")
        await Guardian.filter(id=guardian_id).update(
            first_name="",
            last_name="",
            street="",
            postal_code="",
            city="",
            password_hash="",
            quiet_from=None,
            quiet_until=None,
            onboarded_at=None,
            erased_at=at,
        )
        cleared = False
        if guardian.household_id is not None:
            others = (
                await Guardian.filter(household_id=guardian.household_id, erased_at__isnull=True)
                .exclude(id=guardian_id)
                .exists()
            )
            if not others:
                cleared = bool(
                    await Household.filter(id=guardian.household_id).update(street="", postal_code="", city="")
                )
        await audit(
            "guardian.erased",
            at=at,
            actor_kind=ActorKind.STAFF,
            actor_id=by_staff_id,
            subject_type="guardian",
            subject_id=guardian_id,
            contacts=contacts,
            sessions=sessions,
            signed_answers=signed,
            household_cleared=cleared,
        )
    return ErasureReport(guardian_id, contacts, sessions, signed, cleared)
