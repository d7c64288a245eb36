"""The ``carnet`` command (also ``python -m hub``).

Each sub-command is a thin shell over one service function, the same one the web app and the API call.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hub import clock
from hub.config import Settings


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from hub.store import db

    asyncio.run(db.migrate(settings.db_url))
    print(f"database up to date: {settings.db_url}")
    return 0


def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from hub.people.roster import RosterError, import_roster
    from hub.store import db

    async def run() -> int:
        async with db.open_db(settings):
            try:
                report = await import_roster(Path(args.file), progress=not args.quiet, dry_run=args.dry_run)
            except RosterError as exc:
                print(exc.describe(), file=sys.stderr)
                return 2
        print(report.describe())
        return 0

    return asyncio.run(run())


def _cmd_demo_data(args: argparse.Namespace, settings: Settings) -> int:
    """The demo school, made and published on the demo's clock (``hub.clock.DemoClock``, kept in the data
    directory for the demo's ``carnet serve``): a new school starts a new clock, on the next school day at 10:00."""
    from charter import school_charter
    from hub.demo.guide import clock_view, demo_guide, terminal_text
    from hub.demo.school import DEMO_SCHOOL_NAME, DemoError, generate_demo, install_demo_clock, publish_demo_messages
    from hub.store import db

    async def where_to_click() -> None:
        guide = await demo_guide()
        if guide is not None:
            print()
            print(terminal_text(guide, await clock_view(), school_charter().tz, settings.base_url))

    async def run() -> int:
        async with db.open_db(settings):
            from hub.people.models import School

            existing = await School.first()
            if args.if_empty and existing is not None:
                print(f"the database already holds {existing.name}: kept as it is")
                if existing.name == DEMO_SCHOOL_NAME:
                    install_demo_clock(settings.data_dir)
                    await where_to_click()
                return 0
            demo_clock = install_demo_clock(settings.data_dir, fresh=True)  # a new school, a new clock
            try:
                summary = await generate_demo(seed=args.seed, replace=args.replace)
            except DemoError as exc:
                print(exc, file=sys.stderr)
                return 2
            demo_clock.save()
            print(summary.describe())
            if args.with_messages:
                ids = await publish_demo_messages(clock.now())
                print(f"published demo messages {ids}: they go out as the charter allows (see /demo/outbox)")
            await where_to_click()
        return 0

    return asyncio.run(run())


async def _charter_school(charter: Any, settings: Settings) -> Any:
    """The school's name, address and data-protection officer from its settings (the database), for the
    document; the charter file's name only when there is no school yet."""
    from hub.store.db import open_db
    from hub.web.charter_page import school_details

    async with open_db(settings):
        return await school_details(charter)


def _cmd_charter(args: argparse.Namespace, settings: Settings) -> int:
    from charter import CharterError, default_charter, load_charter, render_to

    try:
        charter = load_charter(args.file or settings.charter_path) if (args.file or settings.charter_path) else None
    except CharterError as exc:
        print(f"invalid charter: {exc}", file=sys.stderr)
        return 2
    charter = charter or default_charter()
    if args.action == "check":
        print(f"charter OK: {charter.name} ({charter.source})")
        return 0
    out = Path(args.out or settings.data_dir / "charter")
    for path in render_to(charter, out, school=asyncio.run(_charter_school(charter, settings)), every_language=True):
        print(path)
    return 0


def _cmd_paper(args: argparse.Namespace, settings: Settings) -> int:
    """``carnet paper list|print|answer``: the print queue and the slips back, at any hour (printing is a staff
    action). ``print`` records its batch as the print queue's page does (``hub.messaging.office.print_letters``), so the
    page lists it with its PDF."""
    from zoneinfo import ZoneInfo

    from hub.messaging.office import FROM_COMMAND, print_letters
    from hub.messaging.paper import PaperError, letters_for_later, paper_list, record_paper_answer
    from hub.records import absences  # an answered absence slip marks the absence justified

    assert absences.__name__  # its listener is registered with the answers' when imported
    from hub.store import db

    async def run() -> int:
        now = clock.now()
        async with db.open_db(settings):
            if args.action == "list":
                items = await paper_list(now=now, message_id=args.message, school_id=args.school)
                later = await letters_for_later(now=now, message_id=args.message, school_id=args.school)
                zone = ZoneInfo(settings.timezone)
                for item in items:
                    due = item.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
                    print(f"{item.guardian_name}\t{', '.join(item.address_lines)}\t{item.subject}\t{due}")
                print(f"{len(items)} letter(s) waiting" if items else "no letter waiting to be printed")
                if later:
                    first = min(item.due_at for item in later).astimezone(zone).strftime("%Y-%m-%d %H:%M")
                    print(f"{len(later)} more letter(s) of messages scheduled for later, printable from {first}")
                return 0
            if args.action == "print":
                from hub.people.models import Staff

                if args.staff is not None and not await Staff.filter(id=args.staff).exists():
                    print(f"--staff {args.staff}: no such staff member", file=sys.stderr)
                    return 2
                batch = await print_letters(
                    school_id=args.school,
                    staff_id=args.staff,
                    now=now,
                    base_url=settings.base_url,
                    message_id=args.message,
                    source=FROM_COMMAND,
                )
                if batch is None:
                    print("no letter waiting to be printed: nothing written")
                    return 0
                await asyncio.to_thread(Path(args.out).write_bytes, batch.pdf)
                numbers = ", ".join(str(record.id) for record in batch.records)
                print(f"{batch.count} letter(s) printed to {args.out} (batch {numbers} on the print queue's page)")
                return 0
            answers: dict[str, str] = {}
            for pair in args.answer or []:
                position, sep, value = pair.partition("=")
                if not sep:
                    print(f"--answer {pair!r}: expected NUMBER=VALUE, e.g. 1=yes", file=sys.stderr)
                    return 2
                answers[position.strip()] = value
            try:
                response = await record_paper_answer(
                    args.code,
                    pupil_id=args.pupil,
                    answers=answers,
                    signed_name=args.signed or "",
                    staff_id=args.staff,
                    now=now,
                )
            except PaperError as exc:
                print(exc, file=sys.stderr)
                return 2
            print(f"answer recorded (slip response {response.id})")
            return 0

    if args.action == "print":
        if not args.out:
            print("carnet paper print needs --out FILE.pdf", file=sys.stderr)
            return 2
        # Checked before printing: the letters are recorded as handed over once the batch is made.
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        if Path(args.out).is_dir():
            print(f"--out {args.out} is a folder: give a file name", file=sys.stderr)
            return 2
    if args.action == "answer" and (not args.code or args.pupil is None):
        print("carnet paper answer needs CODE and --pupil ID", file=sys.stderr)
        return 2
    return asyncio.run(run())


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from hub.delivery.worker import main as worker_main
    from hub.privacy.retention import apply_all

    return worker_main(settings, args.worker_args, daily=[apply_all])


def _cmd_bounces(args: argparse.Namespace, settings: Settings) -> int:
    from hub.delivery.bounces import serve
    from hub.store import db

    if len(settings.bounce_secret) < 32:
        print(
            "carnet bounces needs CARNET_BOUNCE_SECRET (32+ characters, the key that signs the return paths)",
            file=sys.stderr,
        )
        return 2

    async def run() -> None:
        async with db.open_db(settings):
            host, port = args.host or settings.bounce_host, args.port or settings.bounce_port
            print(f"receiving bounces on {host}:{port}", flush=True)
            await serve(settings, host=host, port=port)

    asyncio.run(run())
    return 0


def _cmd_retention(args: argparse.Namespace, settings: Settings) -> int:
    from hub.privacy.retention import run_all
    from hub.store import db

    async def run() -> list[str]:
        async with db.open_db(settings):
            return await run_all(clock.now(), dry_run=args.dry_run)

    for line in asyncio.run(run()):
        print(line)
    return 0


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from hub.web import create_app

    uvicorn.run(create_app(settings), host=args.host or settings.host, port=args.port or settings.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carnet", description="Carnet: the school's digital carnet de liaison")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="create or upgrade the database schema")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("import", help="import a roster CSV (pupils, classes, guardians, contacts); see README")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="check the file and report, store nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("demo-data", help="fill the database with a realistic demo school")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--replace", action="store_true", help="remove an existing demo school first")
    p.add_argument("--if-empty", action="store_true", help="only when the database holds no school yet")
    p.add_argument("--with-messages", action="store_true", help="also publish two sample messages")
    p.set_defaults(func=_cmd_demo_data)

    p = sub.add_parser("charter", help="check or render the school's charter")
    p.add_argument("action", choices=["check", "render"])
    p.add_argument("--file", help="a charter TOML file (default: CARNET_CHARTER or the shipped Belgian charter)")
    p.add_argument("--out", help="folder for charte.html and charte.pdf (default: <data dir>/charter)")
    p.set_defaults(func=_cmd_charter)

    p = sub.add_parser(
        "paper", help="the paper letters: list, print the batch (at any hour; listed on /staff/print), type in a slip"
    )
    p.add_argument("action", choices=["list", "print", "answer"])
    p.add_argument("code", nargs="?", help="answer: the code printed on the slip, e.g. ABCD-EFGH")
    p.add_argument("--out", help="print: the PDF file to write")
    p.add_argument("--school", type=int, help="list, print: only this school")
    p.add_argument("--message", type=int, help="list, print: only this message")
    p.add_argument("--pupil", type=int, help="answer: the pupil the slip answers for")
    p.add_argument("--answer", action="append", help="answer: QUESTION=VALUE, e.g. 1=yes (repeatable)")
    p.add_argument("--signed", help="answer: the name signed on the slip")
    p.add_argument(
        "--staff", type=int, help="print, answer: the staff member printing or typing it in (for the audit log)"
    )
    p.set_defaults(func=_cmd_paper)

    # The worker parses its own options (``carnet worker --help`` shows them).
    p = sub.add_parser("worker", help="send what is due through the configured channels", add_help=False)
    p.set_defaults(func=_cmd_worker)

    p = sub.add_parser("bounces", help="receive the email bounces (DSNs) and mark dead addresses")
    p.add_argument("--host", help="default: CARNET_BOUNCE_HOST (127.0.0.1)")
    p.add_argument("--port", type=int, help="default: CARNET_BOUNCE_PORT (2525)")
    p.set_defaults(func=_cmd_bounces)

    p = sub.add_parser("retention", help="remove what is past the school's retention periods (GDPR)")
    p.add_argument("--dry-run", action="store_true", help="print what would be removed, remove nothing")
    p.set_defaults(func=_cmd_retention)

    p = sub.add_parser("serve", help="run the web application")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=_cmd_serve)

    from hub.setup_cli import add_commands  # school init, import-staff, admin recover

    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "worker":
        args.worker_args = extra  # the worker's own options
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    settings = Settings.from_env()
    if settings.charter_path and args.command != "charter":  # `charter check --file` validates its own
        from charter import CharterError, load_charter, use_charter

        try:
            use_charter(load_charter(settings.charter_path))
        except CharterError as exc:
            print(f"CARNET_CHARTER: {exc}", file=sys.stderr)
            return 2
    return int(args.func(args, settings))


if __name__ == "__main__":
    sys.exit(main())
