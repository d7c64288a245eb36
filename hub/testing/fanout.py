"""A large fan-out for the worker tests and benchmarks: emergencies to the whole demo school, due at once.

Emergencies, because they go whatever the hour at which a test or a benchmark runs; email and the portal only, so
the count of deliveries to a peer is known.
"""

from __future__ import annotations

from hub import clock
from hub.enums import AudienceKind, Channel, StaffRole, Urgency
from hub.messaging.models import Message, MessageAudience
from hub.messaging.planning import publish
from hub.people.models import School, Staff


async def publish_emergencies(count: int, *, reason: str = "exercice d'évacuation") -> list[int]:
    """Publish ``count`` emergencies from the principal to every pupil; returns their ids."""
    school = await School.first()
    principal = await Staff.filter(roles__role=StaffRole.PRINCIPAL).first()
    assert school is not None and principal is not None, "generate the demo school first"
    ids = []
    for i in range(count):
        message = await Message.create(
            school=school,
            author=principal,
            subject=f"Évacuation de l'école ({i + 1})",
            body="Les élèves sont au parc voisin, venez les chercher.",
            urgency=Urgency.EMERGENCY,
            urgency_reason=reason,
        )
        await MessageAudience.create(message=message, kind=AudienceKind.SCHOOL)
        await publish(
            message.id,
            now=clock.now(),
            actor_staff_id=principal.id,
            available_channels=frozenset({Channel.PORTAL, Channel.EMAIL}),
        )
        ids.append(message.id)
    return ids
