"""Pupils' own accounts: a pupil signs in, like a guardian, with a login and a password or with a personal link the
school hands out (one use, :data:`LINK_LIFETIME`), and then sees only their own records
(:mod:`hub.records.pupil_view`). A pupil's session is of kind ``ActorKind.PUPIL``: no guardian page, staff page
or API operation accepts it (:mod:`hub.web.kit`, :mod:`hub.web.api`).

The password is hashed with argon2 as every password of Carnet (:mod:`hub.people.security`); the link's token is
stored only as its SHA-256.
"""

from __future__ import annotations

import datetime as dt

from hub.enums import ActorKind
from hub.people import security
from hub.people.models import Pupil, PupilAccount

#: A pupil's personal link, printed or handed out in class, works once within this time.
LINK_LIFETIME = dt.timedelta(days=14)
#: A login is short: the enrolment number or a school address.
MAX_LOGIN = 100


class AccountError(Exception):
    pass


async def ensure_account(pupil_id: int, login: str | None = None) -> PupilAccount:
    """The pupil's account, created with ``login`` (default: the enrolment number) when missing."""
    account = await PupilAccount.filter(pupil_id=pupil_id).first()
    if account is not None:
        return account
    pupil = await Pupil.get(id=pupil_id)
    chosen = (login or pupil.external_id).strip().lower()
    if not chosen or len(chosen) > MAX_LOGIN:
        raise AccountError("a login of 1 to 100 characters")
    if await PupilAccount.filter(login=chosen).exists():
        raise AccountError("this login is taken")
    return await PupilAccount.create(pupil_id=pupil_id, login=chosen)


async def set_password(pupil_id: int, password: str, now: dt.datetime) -> None:
    """A new password for the pupil (ends their other sessions)."""
    if len(password) < security.MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password of at least {security.MIN_PASSWORD_LENGTH} characters")
    account = await ensure_account(pupil_id)
    await PupilAccount.filter(id=account.id).update(password_hash=security.hash_password(password))
    await security.end_all_sessions(ActorKind.PUPIL, pupil_id, now)


async def pupil_by_password(login: str, password: str) -> int | None:
    """The active pupil with this login and password, else None."""
    account = await PupilAccount.filter(login=login.strip().lower()[:MAX_LOGIN], pupil__active=True).first()
    stored = account.password_hash if account else ""
    if not security.check_password(stored, password) or account is None:
        return None
    return account.pupil_id


async def create_link(pupil_id: int, now: dt.datetime) -> str:
    """A new personal sign-in link token for the pupil (replacing the one before)."""
    account = await ensure_account(pupil_id)
    token = security.new_token()
    await PupilAccount.filter(id=account.id).update(
        link_hash=security.token_hash(token), link_expires_at=now + LINK_LIFETIME
    )
    return token


async def consume_link(token: str, now: dt.datetime) -> int | None:
    """The pupil a personal link signs in, once (a second use, an expired or replaced link: None)."""
    if not token or len(token) > 200:
        return None
    digest = security.token_hash(token)
    account = await PupilAccount.filter(link_hash=digest, link_expires_at__gt=now, pupil__active=True).first()
    if account is None:
        return None
    used = await PupilAccount.filter(id=account.id, link_hash=digest).update(link_hash=None, link_expires_at=None)
    return account.pupil_id if used else None


async def give_accounts(school_id: int, password_hash: str) -> int:
    """Accounts for every active pupil of the school that has none, with this password hash (the demo's)."""
    have = set(await PupilAccount.filter(pupil__school_id=school_id).values_list("pupil_id", flat=True))
    rows = await Pupil.filter(school_id=school_id, active=True).values_list("id", "external_id")
    new = [
        PupilAccount(pupil_id=pid, login=str(ext).lower(), password_hash=password_hash)
        for pid, ext in rows
        if pid not in have
    ]
    await PupilAccount.bulk_create(new, batch_size=1000)
    return len(new)


__all__ = [
    "LINK_LIFETIME",
    "AccountError",
    "consume_link",
    "create_link",
    "ensure_account",
    "give_accounts",
    "pupil_by_password",
    "set_password",
]
