"""The commands of a real school's setting up, added to ``carnet`` (:mod:`hub.cli`):

* ``carnet school init``: the school and its first two administrators (flags, or questions on a terminal);
* ``carnet import-staff staff.csv``: staff, roles and teaching from the enrolment software (``docs/staff.md``);
* ``carnet admin recover EMAIL``: the server operator's way back in.

Each is a thin shell over one service function of :mod:`hub.people.school_setup` or
:mod:`hub.people.staff_import`, the same ones the pages call. Bad input: a message on stderr and exit code 2,
never a traceback, nothing stored.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub import clock
from hub.config import Settings

_SCHOOL_QUESTIONS = (
    ("name", "School name"),
    ("timezone", "Time zone"),
    ("language", "Default language (fr, nl, en, de)"),
    ("address", "Postal address"),
    ("dpo_name", "Data-protection officer's name"),
    ("dpo_email", "Data-protection officer's email"),
)
_DEFAULTS = {"timezone": "Europe/Brussels", "language": "fr"}


def _ask(prompt: str, default: str = "", read: Callable[[str], str] = input) -> str:
    shown = f"{prompt} [{default}]: " if default else f"{prompt}: "
    try:
        answer = read(shown).strip()
    except EOFError:
        answer = ""
    return answer or default


def _complete_interactively(args: argparse.Namespace) -> None:
    """On a terminal, ask for what the flags left out (and nothing else)."""
    for key, prompt in _SCHOOL_QUESTIONS:
        if getattr(args, key) is None:
            setattr(args, key, _ask(prompt, _DEFAULTS.get(key, "")))
    admins = list(args.admin or [])
    while len(admins) < 2:
        n = len(admins) + 1
        admins.append(
            [
                _ask(f"Administrator {n}: first name"),
                _ask(f"Administrator {n}: last name"),
                _ask(f"Administrator {n}: email"),
            ]
        )
    args.admin = admins


def _cmd_school_init(args: argparse.Namespace, settings: Settings) -> int:
    from hub.people.school_setup import AdminIn, SchoolIn, SetupError, init_school, link_url
    from hub.store import db

    if args.interactive or (sys.stdin.isatty() and not args.no_input):
        _complete_interactively(args)
    school = SchoolIn(
        name=args.name or "",
        timezone=args.timezone if args.timezone is not None else _DEFAULTS["timezone"],
        default_language=args.language if args.language is not None else _DEFAULTS["language"],
        address=args.address or "",
        dpo_name=args.dpo_name or "",
        dpo_email=args.dpo_email or "",
        school_year=args.school_year or "",
    )
    admins = [AdminIn(first, last, email) for first, last, email in (args.admin or [])]

    async def run() -> int:
        async with db.open_db(settings):
            try:
                result = await init_school(school, admins, now=clock.now())
            except SetupError as exc:
                print(f"carnet school init: nothing was created\n{exc.describe()}", file=sys.stderr)
                return 2
        print(f"school created: {result.school.name} ({result.school.timezone}, {result.school.default_language})")
        print("one-time sign-in links for the two administrators (valid 7 days, once each; hand them over privately):")
        for first in result.admins:
            print(f"  {first.staff.first_name} {first.staff.last_name} <{first.staff.email}>")
            print(f"    {link_url(settings.base_url, first.token)}")
        return 0

    return asyncio.run(run())


def _cmd_import_staff(args: argparse.Namespace, settings: Settings) -> int:
    from hub.people.models import School
    from hub.people.staff_import import StaffImportError, describe_errors, import_staff
    from hub.store import db

    if not Path(args.file).is_file():
        print(f"carnet import-staff: {args.file} is not a file", file=sys.stderr)
        return 2

    async def run() -> int:
        async with db.open_db(settings):
            try:
                report = await import_staff(Path(args.file), dry_run=args.dry_run, now=clock.now())
            except StaffImportError as exc:  # in the school's language, or English without a school
                school = await School.first()
                print(describe_errors(exc.errors, str(school.default_language) if school else "en"), file=sys.stderr)
                return 2
        print(report.describe())
        return 0

    return asyncio.run(run())


def _cmd_admin(args: argparse.Namespace, settings: Settings) -> int:
    from hub.people.school_setup import RecoveryError, link_url, recover_access
    from hub.store import db

    async def run() -> int:
        async with db.open_db(settings):
            try:
                recovery = await recover_access(args.email, now=clock.now())
            except RecoveryError as exc:
                print(f"carnet admin recover: {exc}", file=sys.stderr)
                return 2
        member = recovery.staff
        what = "is now an administrator" if recovery.promoted else "is an administrator"
        print(f"{member.first_name} {member.last_name} <{member.email}> {what}.")
        print("One-time sign-in link (valid 24 hours, once). Every administrator will see this recovery:")
        print(f"  {link_url(settings.base_url, recovery.token)}")
        return 0

    return asyncio.run(run())


def add_commands(sub: Any) -> None:
    """Add ``school``, ``import-staff`` and ``admin`` to the sub-commands of ``carnet``."""
    p = sub.add_parser("school", help="set up a real school: `carnet school init` (see README, Real installation)")
    actions = p.add_subparsers(dest="action", required=True)
    init = actions.add_parser("init", help="create the school and its first two administrators")
    init.add_argument("--name")
    init.add_argument("--timezone", help="IANA time zone (default Europe/Brussels)")
    init.add_argument("--language", help="the school's default language: fr, nl, en or de (default fr)")
    init.add_argument("--address")
    init.add_argument("--dpo-name", dest="dpo_name", help="the data-protection officer's name")
    init.add_argument("--dpo-email", dest="dpo_email", help="the data-protection officer's email")
    init.add_argument("--school-year", dest="school_year", help="e.g. 2026-2027")
    init.add_argument(
        "--admin", nargs=3, action="append", metavar=("FIRST", "LAST", "EMAIL"), help="an administrator (twice)"
    )
    init.add_argument("--interactive", action="store_true", help="ask for what the flags leave out")
    init.add_argument("--no-input", action="store_true", help="never ask, even on a terminal")
    init.set_defaults(func=_cmd_school_init)

    p = sub.add_parser("import-staff", help="import the staff CSV (staff, roles, what they teach); see docs/staff.md")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="check the file and report, store nothing")
    p.set_defaults(func=_cmd_import_staff)

    p = sub.add_parser("admin", help="the server operator's tools: `carnet admin recover EMAIL`")
    admin_actions = p.add_subparsers(dest="action", required=True)
    recover = admin_actions.add_parser("recover", help="give an administrator (or make one) a one-time sign-in link")
    recover.add_argument("email")
    recover.set_defaults(func=_cmd_admin)
