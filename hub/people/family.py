"""A pupil's family as the school must see it: households, and who may hear about the pupil."""

from __future__ import annotations

from collections import defaultdict

from hub.people.models import Guardian, Guardianship


async def households_of(pupil_id: int) -> dict[int | None, list[Guardian]]:
    """The guardians who receive messages about this pupil, by household.

    Separated parents come back as two households, each to get its own copy. A guardian barred by a court order
    is never in the result, whatever their other flags say.
    """
    links = (
        await Guardianship.filter(pupil_id=pupil_id, receives=True, barred=False, guardian__erased_at__isnull=True)
        .prefetch_related("guardian")
        .order_by("guardian__last_name", "guardian__first_name")
    )
    found: dict[int | None, list[Guardian]] = defaultdict(list)
    for link in links:
        found[link.household_id].append(link.guardian)
    return dict(found)


async def may_answer_for(guardian_id: int, pupil_id: int) -> bool:
    return await Guardianship.filter(guardian_id=guardian_id, pupil_id=pupil_id, may_answer=True, barred=False).exists()
