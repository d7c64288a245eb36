"""The layers of the code, read from every module's imports (its whole text: imports inside functions count too).

The journey of a message runs upward: the store, the school's people, messaging (composing, the rules, the queue),
delivery (sending), reports; the web pages and the command line sit on top, the demo beside them. A package may
import the ones below it, never one above; the pure rules import no database and no web; the demo is reached only
from the web app, the command line and the test equipment; ``channels`` and ``charter`` use only the leaf modules
of ``hub``; nothing imports the web app but the command line and the test equipment.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config import ROOT

#: The leaf modules: no import of anything else of the product (enums, configuration, the clock, dates, PDF, CSV,
#: input parsing, typography).
LEAVES = {"hub.enums", "hub.config", "hub.clock", "hub.dates", "hub.pdf", "hub.csvfile", "hub.inputs", "hub.typography"}
#: Leaves that live with their package: the SMS segment counting (messaging's, used by the SMS adapter and peer)
#: and a guardian's preferences as plain values.
LEAF_MODULES_IN_PACKAGES = {"hub.messaging.sms_segments", "hub.people.preferences"}
#: Lower to higher: a package may import its own and those before it.
LAYERS = ["hub.store", "hub.people", "hub.messaging", "hub.records", "hub.delivery", "hub.reports", "hub.privacy"]
#: Rules over plain values: no database, no web framework.
PURE = {
    "hub.messaging.routing",
    "hub.messaging.sms_segments",
    "hub.people.preferences",
    "hub.people.labels",
    "hub.web.picker",
    "hub.people.optout_rules",
    "charter.rules",
}
DATABASE_OR_WEB = ("tortoise", "asyncpg", "aiosqlite", "starlette", "uvicorn", "hub.store", "hub.web")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> Iterator[tuple[str, Path]]:
    for package in ("hub", "channels", "charter"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            yield _module_name(path), path


def _imports(name: str, path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .rules import ...
                base = name.rsplit(".", node.level - (1 if path.name == "__init__.py" else 0))[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # from hub import clock
    return found


def _product(imported: set[str]) -> set[str]:
    return {m for m in imported if m.split(".")[0] in {"hub", "channels", "charter"}}


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _layer(module: str) -> int | None:
    for index, package in enumerate(LAYERS):
        if _under(module, package):
            return index
    return None


MODULES = dict(_modules())


def test_the_tree_is_found() -> None:
    assert {"hub.store.db", "hub.messaging.access", "hub.messaging.planning", "hub.delivery.worker"} <= set(MODULES)
    assert "hub.reports.delivery" in MODULES and "hub.demo.school" in MODULES


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_package_imports_only_those_below_it(name: str) -> None:
    own = _layer(name)
    if own is None:
        return
    above = {
        module
        for module in _product(_imports(name, MODULES[name]))
        if (layer := _layer(module)) is not None and layer > own and module not in LEAF_MODULES_IN_PACKAGES
    }
    assert not above, f"{name} imports {sorted(above)}, above it"
    forbidden = {
        m for m in _imports(name, MODULES[name]) if _under(m, "hub.web") or _under(m, "hub.demo") or m == "hub.cli"
    }
    assert not forbidden, f"{name} imports {sorted(forbidden)}"


@pytest.mark.parametrize("name", sorted(PURE))
def test_the_pure_rules_import_no_database_and_no_web(name: str) -> None:
    imported = _imports(name, MODULES[name])
    impure = {m for m in imported for bad in DATABASE_OR_WEB if _under(m, bad)}
    impure |= {m for m in imported if m.endswith(".models") or ".models." in m}
    assert not impure, f"{name} imports {sorted(impure)}"


def test_the_demo_is_reached_only_from_the_web_app_and_the_command_line() -> None:
    users = {
        name
        for name, path in MODULES.items()
        if not _under(name, "hub.demo") and any(_under(m, "hub.demo") for m in _imports(name, path))
    }
    allowed = {name for name in users if _under(name, "hub.web") or name == "hub.cli" or _under(name, "hub.testing")}
    assert users == allowed, f"outside the web app and the CLI: {sorted(users - allowed)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith(("channels", "charter"))))
def test_channels_and_the_charter_use_only_the_leaf_modules_of_hub(name: str) -> None:
    used = {m for m in _imports(name, MODULES[name]) if _under(m, "hub")}
    allowed = LEAVES | LEAF_MODULES_IN_PACKAGES
    # ``from hub import clock`` is read as both "hub" and "hub.clock"
    wrong = {m for m in used if m != "hub" and not any(_under(m, leaf) for leaf in allowed)}
    assert not wrong, f"{name} imports {sorted(wrong)}"


def test_nothing_imports_the_web_app_but_the_command_line_and_the_test_equipment() -> None:
    users = {
        name
        for name, path in MODULES.items()
        if not _under(name, "hub.web") and any(_under(m, "hub.web") for m in _imports(name, path))
    }
    assert users <= {"hub.cli", "hub.testing.liveserver"}, sorted(users)


@pytest.mark.parametrize("name", sorted(LEAVES | LEAF_MODULES_IN_PACKAGES))
def test_the_leaves_import_no_other_part_of_the_product(name: str) -> None:
    others = {
        m for m in _product(_imports(name, MODULES[name])) if m != "hub" and not _under(m, "hub.enums") and m != name
    }
    assert not others, f"{name} imports {sorted(others)}"


def test_every_package_says_what_it_holds_and_may_import() -> None:
    for package in ("store", "people", "messaging", "records", "delivery", "reports", "privacy", "demo"):
        doc = ast.get_docstring(ast.parse((ROOT / "hub" / package / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "import" in doc, f"hub/{package}/__init__.py says what it holds and may import"
