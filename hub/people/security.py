"""Passwords, browser sessions, personal sign-in links and throttling: the security rules of the web app,
over the database, with the clock passed in (no web framework here, so the JSON API and the pages share them).

* Passwords are argon2id hashes (``argon2-cffi`` defaults); a hash made with older parameters is upgraded at the
  next successful sign-in.
* A session token and a sign-in link token are 32 random bytes; the database keeps only their SHA-256, so a copy
  of the tables signs nobody in.
* Staff sessions end after 12 hours, or 2 idle hours; guardians' after 30 days, or 7 idle days (a parent's own
  phone). Sign-out revokes the row.
* Sign-in links are bound to one guardian, expire (15 minutes, 60 days for the welcome letter's onboarding link)
  and are single use: consuming one is one conditional UPDATE, so two clicks cannot both win.
* :func:`throttle` counts attempts per key in fixed windows in the database, shared by every process;
  :func:`sign_in_refused` and :func:`count_failed_sign_in` are the sign-in's use of them (the choice is explained
  there): a guesser is refused, the right person on her own address is not.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from hub.enums import ActorKind, ContactKind, LinkPurpose
from hub.people.models import Guardian, SignInLink, Staff, Throttle, WebSession
from hub.store import sql

_hasher = PasswordHasher()

SESSION_LIFETIME = {
    ActorKind.STAFF: timedelta(hours=12),
    ActorKind.GUARDIAN: timedelta(days=30),
    ActorKind.PUPIL: timedelta(days=30),
}
SESSION_IDLE = {
    ActorKind.STAFF: timedelta(hours=2),
    ActorKind.GUARDIAN: timedelta(days=7),
    ActorKind.PUPIL: timedelta(days=7),
}
#: ``last_seen_at`` is written at most this often (one UPDATE per request would be wasteful).
_TOUCH_EVERY = timedelta(minutes=1)
LINK_LIFETIME = {LinkPurpose.SIGN_IN: timedelta(minutes=15), LinkPurpose.ONBOARDING: timedelta(days=60)}
MIN_PASSWORD_LENGTH = 10


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


# ------------------------------------------------------------------------------------------------ passwords


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def check_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches; an empty hash (no password set) never matches."""
    if not stored_hash or not password:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def staff_by_password(email: str, password: str) -> Staff | None:
    """The active member of staff with this email and password, or None. Rehashes outdated hashes."""
    staff = await Staff.filter(email=email.strip().lower(), active=True).first()
    if staff is None:
        # Spend the same time as a real check, so response times do not tell which addresses exist.
        check_password(_DUMMY_HASH, password)
        return None
    if not check_password(staff.password_hash, password):
        return None
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
        await staff.save(update_fields=["password_hash"])
    return staff


async def guardians_by_password(email: str, password: str) -> Guardian | None:
    """The guardian whose verified email and password match, or None."""
    candidates = await Guardian.filter(
        erased_at__isnull=True,
        contacts__kind=ContactKind.EMAIL,
        contacts__value=email.strip().lower(),
        contacts__verified=True,  # an address added but never confirmed signs nobody in
        contacts__dead_at__isnull=True,
    ).exclude(password_hash="")
    for guardian in candidates:
        if check_password(guardian.password_hash, password):
            return guardian
    check_password(_DUMMY_HASH, password)
    return None


_DUMMY_HASH = _hasher.hash("carnet-timing-equaliser")


# ------------------------------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class NewSession:
    token: str  #: goes in the cookie, never stored
    session: WebSession


async def start_session(kind: ActorKind, actor_id: int, now: datetime, *, user_agent: str = "") -> NewSession:
    token = new_token()
    session = await WebSession.create(
        token_hash=token_hash(token),
        actor_kind=kind,
        staff_id=actor_id if kind == ActorKind.STAFF else None,
        guardian_id=actor_id if kind == ActorKind.GUARDIAN else None,
        pupil_id=actor_id if kind == ActorKind.PUPIL else None,
        csrf_token=new_token(),
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_LIFETIME[kind],
        user_agent=user_agent[:300],
    )
    return NewSession(token, session)


async def find_session(token: str, now: datetime) -> WebSession | None:
    """The live session of this cookie token, or None (unknown, revoked, expired or idle too long)."""
    return (await find_session_and_school(token, now))[0]


async def find_session_and_school(token: str, now: datetime) -> tuple[WebSession | None, str | None]:
    """The live session of this cookie token (or None) and the school's name that every page's header shows
    (None when no statement was sent: no token). One hand-written statement: the session with its guardian (the
    portal's most read pages need nothing else to know who asks) and the first school's name, read afresh each
    time, so a rename shows on the next page without a cache to keep right."""
    if not token:
        return None, None
    row = (await sql.query(_session_statement(), [token_hash(token)]))[0]
    school_name = str(row.pop(_SCHOOL_NAME) or "")
    if row["id"] is None:  # no such session (the row came with the school's name alone)
        return None, school_name
    prefix = len(_GUARDIAN_PREFIX)
    guardian_values = {k[prefix:]: row.pop(k) for k in list(row) if k.startswith(_GUARDIAN_PREFIX)}
    session = WebSession._init_from_db(**row)
    guardian = Guardian._init_from_db(**guardian_values) if guardian_values["id"] is not None else None
    object.__setattr__(session, "_guardian", guardian)  # as ``select_related("guardian")`` leaves it
    if now >= session.expires_at:
        return None, school_name
    if now - session.last_seen_at >= SESSION_IDLE[session.actor_kind]:
        return None, school_name
    if now - session.last_seen_at >= _TOUCH_EVERY:
        await WebSession.filter(id=session.id).update(last_seen_at=now)
    return session, school_name


_GUARDIAN_PREFIX = "guardian__"
_SCHOOL_NAME = "school__name"


@functools.cache
def _session_statement() -> str:
    """``SELECT`` every column of the session and of its guardian (prefixed), and the first school's name: always
    one row, the session's columns null when the token is unknown or revoked (the token's hash is unique)."""
    session = ", ".join(f'ws."{c}" AS "{c}"' for c in sorted(WebSession._meta.db_fields))
    guardian = ", ".join(f'g."{c}" AS "{_GUARDIAN_PREFIX}{c}"' for c in sorted(Guardian._meta.db_fields))
    return (
        f'SELECT {session}, {guardian}, ({SCHOOL_NAME_QUERY}) AS "{_SCHOOL_NAME}" FROM (SELECT 1 AS one) one '
        "LEFT JOIN (web_session ws LEFT JOIN guardian g ON g.id = ws.guardian_id) "
        "ON ws.token_hash = $1 AND ws.revoked_at IS NULL"
    )


#: The school's name every page's header shows: the first school's.
SCHOOL_NAME_QUERY = "SELECT name FROM school ORDER BY id LIMIT 1"


async def end_session(token: str, now: datetime) -> None:
    await WebSession.filter(token_hash=token_hash(token), revoked_at__isnull=True).update(revoked_at=now)


async def end_all_sessions(kind: ActorKind, actor_id: int, now: datetime) -> int:
    """Sign a person out everywhere (after a password change, an erasure, a revoked role)."""
    field = {ActorKind.STAFF: "staff_id", ActorKind.PUPIL: "pupil_id"}.get(kind, "guardian_id")
    return await WebSession.filter(**{field: actor_id}, revoked_at__isnull=True).update(revoked_at=now)


# ------------------------------------------------------------------------------------------ sign-in links


async def create_sign_in_link(guardian_id: int, now: datetime, purpose: LinkPurpose = LinkPurpose.SIGN_IN) -> str:
    """A new link token for this guardian; the caller builds ``<base_url>/s/<token>`` and sends or prints it."""
    token = new_token()
    await SignInLink.create(
        token_hash=token_hash(token),
        guardian_id=guardian_id,
        purpose=purpose,
        created_at=now,
        expires_at=now + LINK_LIFETIME[purpose],
    )
    return token


async def peek_sign_in_link(token: str, now: datetime) -> SignInLink | None:
    """The usable link of this token (not used, not expired), without using it: the confirmation page."""
    link = await SignInLink.filter(token_hash=token_hash(token), used_at__isnull=True).first()
    if link is None or now >= link.expires_at:
        return None
    return link


async def consume_sign_in_link(token: str, now: datetime) -> SignInLink | None:
    """Use the link once: the row is claimed by one conditional UPDATE, so a second use (or a race) gets None."""
    link = await peek_sign_in_link(token, now)
    if link is None:
        return None
    claimed = await SignInLink.filter(id=link.id, used_at__isnull=True).update(used_at=now)
    if not claimed:
        return None
    guardian = await Guardian.filter(id=link.guardian_id, erased_at__isnull=True).exists()
    return link if guardian else None


# ---------------------------------------------------------------------------------------------- throttling


def _window_start(window: timedelta, now: datetime) -> datetime:
    seconds = int(window.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=now.tzinfo)


async def attempts(key: str, *, window: timedelta, now: datetime) -> int:
    """The attempts counted for ``key`` in the current window (nothing counted by asking)."""
    row = await Throttle.filter(key=key[:200], window_start=_window_start(window, now)).first()
    return row.count if row else 0


async def throttle(key: str, *, limit: int, window: timedelta, now: datetime) -> bool:
    """Count one attempt for ``key``; True while the attempts in the current window are within ``limit``."""
    start = _window_start(window, now)
    key = key[:200]
    for _ in range(3):
        updated = await Throttle.filter(key=key, window_start=start).update(count=F("count") + 1)
        if updated:
            break
        try:
            await Throttle.create(key=key, window_start=start, count=1)
            break
        except IntegrityError:  # another process created the row first: count on it
            continue
    row = await Throttle.filter(key=key, window_start=start).first()
    return row is not None and row.count <= limit


# Sign-in throttling. Three counters of failed sign-ins per kind of sign-in (``what``: staff-login, guardian-login)
# in fixed windows: per client address (any account), per account (any address), and per (account, address).
#
# * An address that failed ``limit`` times in the window is refused, whatever the account: one machine guessing
#   (or trying one password on many accounts) stops there.
# * An account that failed ``limit`` times in the window is refused only to the addresses that failed on it in
#   that window. A locked account would hand anyone a way to lock out the principal before a council meeting (ten
#   wrong passwords from ten addresses used to lock her out for a quarter of an hour, right password and all): her
#   own address, which has not been guessing, still has its password checked. A guesser spread over many addresses
#   gets one try per address and window once the account's limit is reached (and at most ``limit`` per address
#   over all accounts), which argon2's cost per check and a strong password make hopeless.
# * The account's counter does not slow down either (no delay added to a fresh address): a delay would be the
#   same lever in the attacker's hands, only smaller, and holding requests open costs the server, not him.
#
# The price: the right person who mistypes from an address while her account is under attack waits for the
# window's end (at most ``window``) on that address, or signs in from another one (her phone) or by a personal
# link. Successful sign-ins are never counted: a school signs in all day long from one address.


def _sign_in_keys(what: str, address: str, account: str) -> tuple[str, str, str]:
    """The counters' keys: the address's, the account's and the pair's (hashed: an email and an IPv6 address
    would not fit the key's 200 characters, and a truncated key would merge pairs)."""
    pair = hashlib.sha256(f"{account}\n{address}".encode()).hexdigest()[:32]
    return f"{what}:ip:{address}", f"{what}:key:{account}", f"{what}:pair:{pair}"


async def sign_in_refused(
    what: str, *, address: str, account: str = "", limit: int, window: timedelta, now: datetime
) -> bool:
    """True when a sign-in from ``address`` to ``account`` is refused without checking its password: the address
    failed ``limit`` times in the window, or the account did and this address is one of those that failed on it.
    ``account`` empty: only the address counts (a sign-in link, which names no account)."""
    by_address, by_account, by_pair = _sign_in_keys(what, address, account.lower())
    if await attempts(by_address, window=window, now=now) >= limit:
        return True
    if not account:
        return False
    if await attempts(by_account, window=window, now=now) < limit:
        return False
    return await attempts(by_pair, window=window, now=now) > 0


async def count_failed_sign_in(what: str, *, address: str, account: str = "", window: timedelta, now: datetime) -> None:
    """Count one failed sign-in from ``address`` to ``account`` on each of its counters."""
    by_address, by_account, by_pair = _sign_in_keys(what, address, account.lower())
    for key in (by_address, by_account, by_pair) if account else (by_address,):
        await throttle(key, limit=0, window=window, now=now)


async def purge_throttle(before: datetime) -> int:
    return await Throttle.filter(window_start__lt=before).delete()
