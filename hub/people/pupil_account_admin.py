"""Pupils' accounts as the office gives them (secretary, principal, administrator): a class's pupils with the state
of their account, an account given (login: the enrolment number unless the office chooses one), a one-time
password or a personal sign-in link to print or hand out, and the account revoked.

The password and the link are shown once to the member of staff and never stored in clear (the account keeps
their hashes, :mod:`hub.people.pupil_accounts`). Every action is audited with the pupil's id, never the login,
password or link. A pupil of another school, or one not in the school, is ``not_found``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from hub.enums import ActorKind, GroupKind
from hub.people import pupil_accounts, security
from hub.people.models import Group, Membership, Pupil, PupilAccount
from hub.store.audit import audit

#: Letters and digits that read unambiguously when printed or said aloud (no 0/O, 1/l/I).
_READABLE = "abcdefghjkmnpqrstuvwxyz23456789"
ONE_TIME_PASSWORD_LENGTH = 12


class PupilAccountError(ValueError):
    """``problem``: not_found, login (empty, too long or taken)."""

    def __init__(self, problem: str, detail: str = "") -> None:
        super().__init__(problem + (f" ({detail})" if detail else ""))
        self.problem = problem


@dataclass(frozen=True)
class AccountRow:
    pupil_id: int
    name: str
    external_id: str
    login: str | None
    has_password: bool
    link_pending: bool


async def school_classes(school_id: int) -> list[Group]:
    return await Group.filter(school_id=school_id, kind=GroupKind.CLASS).order_by("code", "id")


async def class_group(school_id: int, group_id: int) -> Group:
    group = await Group.get_or_none(id=group_id, school_id=school_id, kind=GroupKind.CLASS)
    if group is None:
        raise PupilAccountError("not_found")
    return group


async def class_accounts(school_id: int, group_id: int, now: dt.datetime) -> list[AccountRow]:
    """The class's active pupils by name, with their account's state (two queries)."""
    await class_group(school_id, group_id)
    pupil_ids = await Membership.filter(group_id=group_id).values_list("pupil_id", flat=True)
    pupils = await Pupil.filter(id__in=list(pupil_ids), school_id=school_id, active=True).order_by(
        "last_name", "first_name", "id"
    )
    accounts = {a.pupil_id: a for a in await PupilAccount.filter(pupil_id__in=[p.id for p in pupils])}
    rows = []
    for pupil in pupils:
        account = accounts.get(pupil.id)
        rows.append(
            AccountRow(
                pupil.id,
                f"{pupil.last_name} {pupil.first_name}",
                pupil.external_id,
                account.login if account else None,
                bool(account and account.password_hash),
                bool(account and account.link_hash and account.link_expires_at and account.link_expires_at > now),
            )
        )
    return rows


async def _pupil(school_id: int, pupil_id: int) -> Pupil:
    pupil = await Pupil.get_or_none(id=pupil_id, school_id=school_id, active=True)
    if pupil is None:
        raise PupilAccountError("not_found")
    return pupil


async def _audit(action: str, pupil_id: int, by: int, at: dt.datetime) -> None:
    await audit(action, at=at, actor_kind=ActorKind.STAFF, actor_id=by, subject_type="pupil", subject_id=pupil_id)


async def give_account(school_id: int, pupil_id: int, login: str, *, by: int, at: dt.datetime) -> PupilAccount:
    """The pupil's account with ``login`` (empty: the enrolment number); an existing one is kept as it is."""
    await _pupil(school_id, pupil_id)
    existing = await PupilAccount.get_or_none(pupil_id=pupil_id)
    if existing is not None:
        return existing
    try:
        account = await pupil_accounts.ensure_account(pupil_id, login.strip() or None)
    except pupil_accounts.AccountError as exc:
        raise PupilAccountError("login", str(exc)) from exc
    await _audit("pupil_account.created", pupil_id, by, at)
    return account


async def one_time_password(school_id: int, pupil_id: int, *, by: int, at: dt.datetime) -> tuple[str, str]:
    """A new random password for the pupil (their account given if missing, their sessions ended): the login and
    the password, to show once."""
    account = await give_account(school_id, pupil_id, "", by=by, at=at)
    password = "".join(secrets.choice(_READABLE) for _ in range(ONE_TIME_PASSWORD_LENGTH))
    await pupil_accounts.set_password(pupil_id, password, at)
    await _audit("pupil_account.password", pupil_id, by, at)
    return account.login, password


async def personal_link(school_id: int, pupil_id: int, *, by: int, at: dt.datetime) -> tuple[str, dt.datetime]:
    """A new personal sign-in link's token for the pupil (replacing the one before) and when it expires."""
    await give_account(school_id, pupil_id, "", by=by, at=at)
    token = await pupil_accounts.create_link(pupil_id, at)
    await _audit("pupil_account.link", pupil_id, by, at)
    return token, at + pupil_accounts.LINK_LIFETIME


async def revoke(school_id: int, pupil_id: int, *, by: int, at: dt.datetime) -> bool:
    """Remove the pupil's account (password and link no longer work) and sign them out everywhere; False when
    they had none."""
    await _pupil(school_id, pupil_id)
    async with in_transaction():
        removed = await PupilAccount.filter(pupil_id=pupil_id).delete()
        if removed:
            await security.end_all_sessions(ActorKind.PUPIL, pupil_id, at)
            await _audit("pupil_account.revoked", pupil_id, by, at)
    return bool(removed)
