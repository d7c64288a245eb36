"""The ``carnet`` command (also ``python -m hub``).

Each sub-command is a thin shell over one service function, the same one the web app and the API call.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from hub.config import Settings


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from hub import db

    asyncio.run(db.migrate(settings.db_url))
    print(f"database up to date: {settings.db_url}")
    return 0


def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from hub import db
    from hub.roster import RosterError, import_roster

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
    from hub import db
    from hub.demo import DemoError, generate_demo

    async def run() -> int:
        async with db.open_db(settings):
            if args.if_empty:
                from hub.models import School

                existing = await School.first()
                if existing is not None:
                    print(f"the database already holds {existing.name}: kept as it is")
                    return 0
            try:
                summary = await generate_demo(seed=args.seed, replace=args.replace)
            except DemoError as exc:
                print(exc, file=sys.stderr)
                return 2
        print(summary.describe())
        return 0

    return asyncio.run(run())


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
    for path in render_to(charter, out):
        print(path)
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
    p.set_defaults(func=_cmd_demo_data)

    p = sub.add_parser("charter", help="check or render the school's charter")
    p.add_argument("action", choices=["check", "render"])
    p.add_argument("--file", help="a charter TOML file (default: CARNET_CHARTER or the shipped Belgian charter)")
    p.add_argument("--out", help="folder for charte.html and charte.pdf (default: <data dir>/charter)")
    p.set_defaults(func=_cmd_charter)

    p = sub.add_parser("serve", help="run the web application")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=_cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    return int(args.func(args, settings))


if __name__ == "__main__":
    sys.exit(main())
