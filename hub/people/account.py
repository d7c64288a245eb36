"""A guardian's own account: how they are reached (contacts, order of channels, quiet hours), their consents,
their password and the welcome letter's onboarding. The rules over the database, with the clock passed in and no
web framework, so the portal's pages and the JSON API share them.

Every function takes the signed-in guardian's id and touches only that guardian's rows: a contact id of another
family is simply not found (:class:`NotFound`), which the pages turn into a 404. Refusals a person can fix are
:class:`AccountError` with a short ``code`` the pages translate; nothing is stored when one is raised.

Verification codes. A new email address or phone number is stored unverified (the router does not use it) and a
6-digit code is sent to it; the database keeps the code's SHA-256 only. A code lives 15 minutes and allows five
tries; a new code replaces the previous ones. Typing the right code verifies the contact. Every change is audited
with ids only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from channels.webpush import InvalidSubscription, parse_subscription
from hub.enums import (
    ActorKind,
    Channel,
    ConsentPurpose,
    ConsentSource,
    ContactKind,
)
from hub.people import security
from hub.people.consent import give_consent, withdraw_consent
from hub.people.models import ChannelPreference, Consent, Contact, Guardian, VerificationCode, WebSession
from hub.people.preferences import DEFAULT_CHANNEL_ORDER, QuietHours
from hub.store.audit import audit

__all__ = [
    "CODE_ATTEMPTS",
    "CODE_LIFETIME",
    "ORDERED_CHANNELS",
    "OUTSIDE_EU",
    "PURPOSES",
    "AccountError",
    "ChannelChoice",
    "ConsentState",
    "NotFound",
    "VerifyOutcome",
    "add_contact",
    "add_push_subscription",
    "channel_choices",
    "complete_onboarding",
    "consent_states",
    "contact_of",
    "contacts_of",
    "issue_code",
    "normalise",
    "normalise_email",
    "normalise_phone",
    "parse_quiet_hours",
    "remove_contact",
    "remove_push_subscription",
    "save_channel_order",
    "set_consents",
    "set_password",
    "set_quiet_hours",
    "verify_code",
]


CODE_LIFETIME = dt.timedelta(minutes=15)
#: Wrong codes allowed before a new code is needed: a million codes, five tries, so a guess wins 1 in 200,000.
CODE_ATTEMPTS = 5
#: The channels a guardian orders: the portal is always first (the inbox) and the letter always last.
ORDERED_CHANNELS: tuple[Channel, ...] = tuple(c for c in DEFAULT_CHANNEL_ORDER if c is not Channel.PORTAL)
#: The purposes a guardian decides on the portal, in the order the page lists them.
PURPOSES: tuple[ConsentPurpose, ...] = (
    ConsentPurpose.SCHOOL_MESSAGES,
    ConsentPurpose.EMAIL,
    ConsentPurpose.WEBPUSH,
    ConsentPurpose.FCM,
    ConsentPurpose.TELEGRAM,
    ConsentPurpose.SMS,
    ConsentPurpose.PHOTOS,
)
#: The purposes whose processor is outside the European Union (the charter asks a consent of its own for each).
OUTSIDE_EU: frozenset[ConsentPurpose] = frozenset({ConsentPurpose.SMS, ConsentPurpose.FCM, ConsentPurpose.TELEGRAM})


class AccountError(ValueError):
    """A refusal the guardian can fix; ``code`` names it for the page (e.g. ``phone_invalid``)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code


class NotFound(LookupError):
    """No such row for this guardian (another family's id, or none at all)."""


# ------------------------------------------------------------------------------------------------- contacts


def normalise_email(raw: str) -> str:
    """The address as stored and matched at sign-in (lower case); :class:`AccountError` ``email_invalid``."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError("email_invalid", str(exc)) from exc


def normalise_phone(raw: str) -> str:
    """E.164, no country code meaning Belgium (as the roster import reads them); :class:`AccountError`
    ``phone_unreadable`` (not a number at all) or ``phone_invalid`` (a number no operator gives out)."""
    try:
        number = phonenumbers.parse(raw.strip(), "BE")
    except phonenumbers.NumberParseException as exc:
        raise AccountError("phone_unreadable", str(exc)) from exc
    if not phonenumbers.is_valid_number(number):
        raise AccountError("phone_invalid", f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(kind: ContactKind, raw: str) -> str:
    """What a guardian typed, as stored: an email or a phone number (other kinds are not typed by hand)."""
    if kind == ContactKind.EMAIL:
        return normalise_email(raw)
    if kind == ContactKind.PHONE:
        return normalise_phone(raw)
    raise AccountError("kind", f"a {kind} contact is not added by hand")


async def contacts_of(guardian_id: int) -> list[Contact]:
    return await Contact.filter(guardian_id=guardian_id).order_by("kind", "id")


async def contact_of(guardian_id: int, contact_id: int) -> Contact:
    contact = await Contact.filter(id=contact_id, guardian_id=guardian_id).first()
    if contact is None:
        raise NotFound(f"no contact {contact_id} for this guardian")
    return contact


async def add_contact(guardian_id: int, kind: ContactKind, raw: str, now: dt.datetime) -> Contact:
    """Store a new email or phone, unverified (typing it again gives back the same unverified row).
    :class:`AccountError` ``already`` when this guardian already has it verified."""
    value = normalise(kind, raw)
    existing = await Contact.filter(guardian_id=guardian_id, kind=kind, value=value).first()
    if existing is not None:
        if existing.verified and existing.dead_at is None:
            raise AccountError("already")
        return existing
    contact = await Contact.create(guardian_id=guardian_id, kind=kind, value=value, verified=False)
    await audit(
        "contact.added",
        at=now,
        actor_kind=ActorKind.GUARDIAN,
        actor_id=guardian_id,
        subject_type="contact",
        subject_id=contact.id,
        kind=str(kind),
    )
    return contact


async def remove_contact(guardian_id: int, contact_id: int, now: dt.datetime) -> None:
    """Delete one of this guardian's contacts (its deliveries keep their history, without the contact)."""
    contact = await contact_of(guardian_id, contact_id)
    await contact.delete()
    await audit(
        "contact.removed",
        at=now,
        actor_kind=ActorKind.GUARDIAN,
        actor_id=guardian_id,
        subject_type="contact",
        subject_id=contact_id,
        kind=str(contact.kind),
    )


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def issue_code(guardian_id: int, contact_id: int, now: dt.datetime) -> str:
    """A new 6-digit code for one of this guardian's unverified emails or phones; the earlier ones stop working.
    The caller sends it (the page, through the channel's adapter)."""
    contact = await contact_of(guardian_id, contact_id)
    if contact.kind not in (ContactKind.EMAIL, ContactKind.PHONE):
        raise AccountError("kind")
    if contact.verified and contact.dead_at is None:
        raise AccountError("already")
    code = f"{secrets.randbelow(10**6):06d}"
    async with in_transaction():
        await VerificationCode.filter(contact_id=contact.id, used_at__isnull=True, expires_at__gt=now).update(
            expires_at=now
        )
        await VerificationCode.create(
            guardian_id=guardian_id,
            contact_id=contact.id,
            code_hash=_code_hash(code),
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
    return code


@dataclass(frozen=True)
class VerifyOutcome:
    """``verified``; or ``wrong`` (``tries_left`` more), ``exhausted`` (five wrong: ask a new code) or
    ``expired`` (none live: ask a new code)."""

    result: str
    tries_left: int = 0

    @property
    def ok(self) -> bool:
        return self.result == "verified"


async def verify_code(guardian_id: int, contact_id: int, typed: str, now: dt.datetime) -> VerifyOutcome:
    """Check a typed code against the contact's live code. Each try is counted by one conditional UPDATE before
    the comparison, so parallel guesses cannot exceed the allowance."""
    contact = await contact_of(guardian_id, contact_id)
    if contact.verified and contact.dead_at is None:
        return VerifyOutcome("verified")
    live = (
        await VerificationCode.filter(contact_id=contact.id, used_at__isnull=True, expires_at__gt=now)
        .order_by("-id")
        .first()
    )
    if live is None:
        return VerifyOutcome("expired")
    counted = await VerificationCode.filter(id=live.id, attempts__lt=CODE_ATTEMPTS, used_at__isnull=True).update(
        attempts=F("attempts") + 1
    )
    if not counted:
        return VerifyOutcome("exhausted")
    typed = "".join(ch for ch in typed if ch.isdigit())
    if not hmac.compare_digest(_code_hash(typed), live.code_hash):
        left = CODE_ATTEMPTS - live.attempts - 1
        return VerifyOutcome("wrong", left) if left > 0 else VerifyOutcome("exhausted")
    async with in_transaction():
        if not await VerificationCode.filter(id=live.id, used_at__isnull=True).update(used_at=now):
            return VerifyOutcome("expired")
        await Contact.filter(id=contact.id).update(verified=True, verified_at=now, dead_at=None, dead_reason="")
        await audit(
            "contact.verified",
            at=now,
            actor_kind=ActorKind.GUARDIAN,
            actor_id=guardian_id,
            subject_type="contact",
            subject_id=contact.id,
            kind=str(contact.kind),
        )
    return VerifyOutcome("verified")


# ------------------------------------------------------------------------------------------------- web push


def _subscription(raw: str, *, allow_loopback_http: bool) -> dict[str, object]:
    """The browser's PushSubscription, validated (:func:`channels.webpush.parse_subscription`); a plain-http
    endpoint (the local push service of the demo and the tests) only when ``allow_loopback_http``."""
    try:
        subscription = parse_subscription(raw)
    except InvalidSubscription as exc:
        raise AccountError("subscription", str(exc)) from exc
    if urlsplit(str(subscription["endpoint"])).scheme != "https" and not allow_loopback_http:
        raise AccountError("subscription", "webpush: the endpoint must be an https URL")
    return subscription


async def add_push_subscription(
    guardian: Guardian, raw: str, now: dt.datetime, *, version: str, allow_loopback_http: bool = False
) -> Contact:
    """Store a browser's push subscription as a verified WEBPUSH contact (the browser proved it by subscribing)
    and record the guardian's consent to web push. A subscription already stored is refreshed, not doubled."""
    subscription = _subscription(raw, allow_loopback_http=allow_loopback_http)
    value = json.dumps(subscription, separators=(",", ":"), sort_keys=True)
    async with in_transaction():
        existing = await _push_contact(guardian.id, str(subscription["endpoint"]))
        if existing is None:
            contact = await Contact.create(
                guardian=guardian, kind=ContactKind.WEBPUSH, value=value, verified=True, verified_at=now
            )
        else:
            contact = existing
            await Contact.filter(id=contact.id).update(
                value=value, verified=True, verified_at=now, dead_at=None, dead_reason=""
            )
        await give_consent(guardian, ConsentPurpose.WEBPUSH, version=version, source=ConsentSource.PORTAL, at=now)
        await audit(
            "contact.push_subscribed",
            at=now,
            actor_kind=ActorKind.GUARDIAN,
            actor_id=guardian.id,
            subject_type="contact",
            subject_id=contact.id,
        )
    return contact


async def _push_contact(guardian_id: int, endpoint: str) -> Contact | None:
    for contact in await Contact.filter(guardian_id=guardian_id, kind=ContactKind.WEBPUSH):
        try:
            if json.loads(contact.value).get("endpoint") == endpoint:
                return contact
        except (ValueError, AttributeError):
            continue
    return None


async def remove_push_subscription(guardian_id: int, endpoint: str, now: dt.datetime) -> bool:
    """The browser unsubscribed: forget its subscription. False when this guardian had none at ``endpoint``."""
    contact = await _push_contact(guardian_id, endpoint)
    if contact is None:
        return False
    await remove_contact(guardian_id, contact.id, now)
    return True


# ------------------------------------------------------------------------------------------ order, quiet hours


@dataclass(frozen=True)
class ChannelChoice:
    channel: Channel
    rank: int
    enabled: bool


async def channel_choices(guardian_id: int) -> list[ChannelChoice]:
    """The guardian's order of the channels that alert them, with the ones they never ordered after, enabled."""
    stored = {
        Channel(row["channel"]): row
        for row in await ChannelPreference.filter(guardian_id=guardian_id).values("channel", "rank", "enabled")
    }
    ranked = sorted(
        ORDERED_CHANNELS, key=lambda c: (stored[c]["rank"] if c in stored else 100, ORDERED_CHANNELS.index(c))
    )
    return [
        ChannelChoice(channel, rank, bool(stored[channel]["enabled"]) if channel in stored else True)
        for rank, channel in enumerate(ranked, start=1)
    ]


async def save_channel_order(
    guardian_id: int, order: Sequence[Channel], enabled: Iterable[Channel], now: dt.datetime
) -> None:
    """Store the guardian's order (``order``'s channels first, the others after in their current order) and
    which channels they want at all. The portal and the letter are not ordered: they are always there."""
    wanted = list(dict.fromkeys(c for c in order if c in ORDERED_CHANNELS))
    current = [choice.channel for choice in await channel_choices(guardian_id)]
    ranked = wanted + [c for c in current if c not in wanted]
    on = set(enabled)
    async with in_transaction():
        # The portal's own row (rank 0, always on) keeps the preferences non-empty when every alerting channel is
        # switched off: an empty list would mean "no preference" and bring the default order back.
        await ChannelPreference.update_or_create(
            defaults={"rank": 0, "enabled": True}, guardian_id=guardian_id, channel=Channel.PORTAL
        )
        for rank, channel in enumerate(ranked, start=1):
            updated = await ChannelPreference.filter(guardian_id=guardian_id, channel=channel).update(
                rank=rank, enabled=channel in on
            )
            if not updated:
                await ChannelPreference.create(
                    guardian_id=guardian_id, channel=channel, rank=rank, enabled=channel in on
                )
        await audit(
            "guardian.channels_ordered",
            at=now,
            actor_kind=ActorKind.GUARDIAN,
            actor_id=guardian_id,
            subject_type="guardian",
            subject_id=guardian_id,
            order=[str(c) for c in ranked],
            enabled=sorted(str(c) for c in on),
        )


def parse_quiet_hours(start: str, end: str) -> QuietHours | None:
    """``HH:MM`` times from a form: both empty means no quiet hours; :class:`AccountError` ``quiet_half`` (one
    only), ``quiet_time`` (unreadable) or ``quiet_same`` (equal)."""
    start, end = start.strip(), end.strip()
    if not start and not end:
        return None
    if not start or not end:
        raise AccountError("quiet_half")
    try:
        begins, ends = dt.time.fromisoformat(start), dt.time.fromisoformat(end)
    except ValueError as exc:
        raise AccountError("quiet_time", str(exc)) from exc
    try:
        return QuietHours(begins.replace(second=0, microsecond=0), ends.replace(second=0, microsecond=0))
    except ValueError as exc:
        raise AccountError("quiet_same", str(exc)) from exc


async def set_quiet_hours(guardian_id: int, quiet: QuietHours | None, now: dt.datetime) -> None:
    """Store the guardian's quiet hours (None: none). They are wall-clock times of the school: the ORM wants
    them labelled with a zone, so they carry UTC's label, and whoever reads them drops it
    (``hub.messaging.planning``)."""
    await Guardian.filter(id=guardian_id).update(
        quiet_from=quiet.start.replace(tzinfo=dt.UTC) if quiet else None,
        quiet_until=quiet.end.replace(tzinfo=dt.UTC) if quiet else None,
    )
    await audit(
        "guardian.quiet_hours",
        at=now,
        actor_kind=ActorKind.GUARDIAN,
        actor_id=guardian_id,
        subject_type="guardian",
        subject_id=guardian_id,
        set=quiet is not None,
    )


# --------------------------------------------------------------------------------------------------- consents


@dataclass(frozen=True)
class ConsentState:
    purpose: ConsentPurpose
    given: bool
    outside_eu: bool
    #: Every row of this purpose, oldest first: when given, by which means, when withdrawn.
    history: tuple[Consent, ...]


async def consent_states(guardian_id: int) -> list[ConsentState]:
    rows = await Consent.filter(guardian_id=guardian_id).order_by("given_at", "id")
    return [
        ConsentState(
            purpose,
            any(r.purpose == purpose and r.withdrawn_at is None for r in rows),
            purpose in OUTSIDE_EU,
            tuple(r for r in rows if r.purpose == purpose),
        )
        for purpose in PURPOSES
    ]


async def set_consents(guardian: Guardian, wanted: Iterable[ConsentPurpose], *, version: str, now: dt.datetime) -> int:
    """Give the purposes ticked and withdraw those unticked (each a dated row of history, audited by
    :mod:`hub.people.consent`); the purposes left as they were are not touched. Returns how many changed."""
    wanted_set = set(wanted)
    live = {state.purpose for state in await consent_states(guardian.id) if state.given}
    changed = 0
    async with in_transaction():
        for purpose in PURPOSES:
            if purpose in wanted_set and purpose not in live:
                await give_consent(guardian, purpose, version=version, source=ConsentSource.PORTAL, at=now)
                changed += 1
            elif purpose not in wanted_set and purpose in live:
                await withdraw_consent(guardian, purpose, source=ConsentSource.PORTAL, at=now)
                changed += 1
    return changed


# ---------------------------------------------------------------------------------------- password, onboarding


async def set_password(guardian_id: int, password: str, confirm: str, *, session_id: int, now: dt.datetime) -> int:
    """Set or change the guardian's password and sign out their other browsers (a thief's session ends with
    the change); this session stays. :class:`AccountError` ``password_short`` or ``password_mismatch``.
    Returns how many other sessions were ended."""
    if password != confirm:
        raise AccountError("password_mismatch")
    try:
        hashed = security.hash_password(password)
    except ValueError as exc:
        raise AccountError("password_short", str(exc)) from exc
    async with in_transaction():
        await Guardian.filter(id=guardian_id).update(password_hash=hashed)
        ended = (
            await WebSession.filter(guardian_id=guardian_id, revoked_at__isnull=True)
            .exclude(id=session_id)
            .update(revoked_at=now)
        )
        await audit(
            "guardian.password_set",
            at=now,
            actor_kind=ActorKind.GUARDIAN,
            actor_id=guardian_id,
            subject_type="guardian",
            subject_id=guardian_id,
            sessions_ended=ended,
        )
    return ended


async def complete_onboarding(guardian_id: int, now: dt.datetime) -> bool:
    """The guardian confirmed their contacts, channels and consents from the welcome letter's page. True the
    first time only (the date of the first confirmation stays)."""
    done = await Guardian.filter(id=guardian_id, onboarded_at__isnull=True).update(onboarded_at=now)
    if done:
        await audit(
            "guardian.onboarded",
            at=now,
            actor_kind=ActorKind.GUARDIAN,
            actor_id=guardian_id,
            subject_type="guardian",
            subject_id=guardian_id,
        )
    return bool(done)
