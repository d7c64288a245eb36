"""Consent per guardian and purpose, kept as history (GDPR art. 7: a controller must be able to show the consent).

Giving consent adds a row; withdrawing sets ``withdrawn_at`` on the live row; consenting again adds a new row. The
current consents are the rows not withdrawn. Every change is audited.
"""

from __future__ import annotations

import datetime as dt

from hub.enums import ActorKind, ConsentPurpose, ConsentSource
from hub.people.models import Consent, Guardian
from hub.store.audit import audit


async def give_consent(
    guardian: Guardian,
    purpose: ConsentPurpose,
    *,
    version: str,
    source: ConsentSource,
    at: dt.datetime,
    actor_kind: ActorKind = ActorKind.GUARDIAN,
    actor_id: int | None = None,
) -> Consent:
    """Idempotent: a purpose already consented to (same version) is returned as it is."""
    live = await Consent.filter(guardian=guardian, purpose=purpose, withdrawn_at__isnull=True).first()
    if live is not None and live.version == version:
        return live
    if live is not None:  # a new version of the text replaces the old consent
        live.withdrawn_at = at
        live.withdrawn_source = str(source)
        await live.save(update_fields=["withdrawn_at", "withdrawn_source"])
    consent = await Consent.create(guardian=guardian, purpose=purpose, version=version, source=source, given_at=at)
    await audit(
        "consent.given",
        at=at,
        actor_kind=actor_kind,
        actor_id=actor_id if actor_kind != ActorKind.GUARDIAN else guardian.id,
        subject_type="guardian",
        subject_id=guardian.id,
        purpose=str(purpose),
        version=version,
        source=str(source),
    )
    return consent


async def withdraw_consent(
    guardian: Guardian,
    purpose: ConsentPurpose,
    *,
    source: ConsentSource,
    at: dt.datetime,
    actor_kind: ActorKind = ActorKind.GUARDIAN,
    actor_id: int | None = None,
) -> bool:
    """Returns False when there was nothing to withdraw. The row stays, dated, as evidence."""
    updated = await Consent.filter(guardian=guardian, purpose=purpose, withdrawn_at__isnull=True).update(
        withdrawn_at=at, withdrawn_source=str(source)
    )
    if updated:
        await audit(
            "consent.withdrawn",
            at=at,
            actor_kind=actor_kind,
            actor_id=actor_id if actor_kind != ActorKind.GUARDIAN else guardian.id,
            subject_type="guardian",
            subject_id=guardian.id,
            purpose=str(purpose),
            source=str(source),
        )
    return bool(updated)


async def current_purposes(guardian_ids: list[int]) -> dict[int, frozenset[ConsentPurpose]]:
    """The live consents of many guardians in one query (the router asks for a whole audience at once)."""
    found: dict[int, set[ConsentPurpose]] = {gid: set() for gid in guardian_ids}
    rows = await Consent.filter(guardian_id__in=guardian_ids, withdrawn_at__isnull=True).values_list(
        "guardian_id", "purpose"
    )
    for guardian_id, purpose in rows:
        found[guardian_id].add(ConsentPurpose(purpose))
    return {gid: frozenset(p) for gid, p in found.items()}


async def consent_history(guardian: Guardian, purpose: ConsentPurpose | None = None) -> list[Consent]:
    query = Consent.filter(guardian=guardian)
    if purpose is not None:
        query = query.filter(purpose=purpose)
    return await query.order_by("given_at", "id")
