"""Real-browser checks of Carnet's pages: the Debian Chromium driven by Playwright, and axe-core.

Playwright's own browser downloads are never used: the tests drive ``/usr/bin/chromium`` (Debian packages
``chromium`` and ``chromium-driver``), the browser a school's machines actually have. axe-core is the copy
shipped in the ``axe-playwright-python`` package, injected into the page as it is.

``assert_accessible(page, name)`` saves a full-page screenshot to ``artifacts/screenshots/<name>.png`` (kept by
CI as an artefact) and fails listing every serious or critical axe violation: rule, what it asks, and the
selectors of the elements at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, ViewportSize

from hub.config import ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"

#: A common phone (the families' device) and a school desktop.
VIEWPORTS: dict[str, ViewportSize] = {
    "phone": {"width": 390, "height": 844},
    #: The narrowest phone still common (many Android phones): what the parent pages must read well at.
    "narrow": {"width": 360, "height": 740},
    "desktop": {"width": 1280, "height": 800},
}
LOCALE = "fr-BE"

#: WCAG 2.1 A and AA, and axe's best practices.
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice")
#: Impacts that fail a page; "minor" and "moderate" findings are left to review.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
#: The stricter bar of the daily pages (the parents' pages on a phone, the composer's picker): "moderate" fails too.
MODERATE_AND_ABOVE = frozenset({"moderate", "serious", "critical"})


class BrowserUnavailable(RuntimeError):
    """Chromium or axe-core is missing; the message says how to install it."""


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run on this machine, or None when they can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver"
    try:
        axe_script()
    except BrowserUnavailable as exc:
        return str(exc)
    return None


def axe_script() -> Path:
    try:
        import axe_playwright_python
    except ImportError:
        raise BrowserUnavailable("axe-core is missing: pip install axe-playwright-python") from None
    path = Path(axe_playwright_python.__file__).with_name("axe.min.js")
    if not path.is_file():
        raise BrowserUnavailable(f"axe-core is missing from the axe-playwright-python package: {path}")
    return path


def launch_chromium(playwright: Playwright) -> Browser:
    if not CHROMIUM.exists():
        raise BrowserUnavailable(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)


def new_context(browser: Browser, *, base_url: str, viewport: str = "phone") -> BrowserContext:
    """A fresh browser profile (no cookies) on ``base_url``, in Belgian French, on a phone or a desktop."""
    if viewport not in VIEWPORTS:
        raise ValueError(f"unknown viewport {viewport!r}: one of {', '.join(VIEWPORTS)}")
    phone = viewport in ("phone", "narrow")
    return browser.new_context(
        base_url=base_url,
        locale=LOCALE,
        viewport=VIEWPORTS[viewport],
        is_mobile=phone,
        has_touch=phone,
    )


@dataclass(frozen=True)
class Violation:
    """One axe rule broken on a page, and where."""

    rule: str
    impact: str
    help: str
    help_url: str
    targets: tuple[str, ...]  #: a CSS selector per element at fault

    @classmethod
    def from_axe(cls, raw: dict[str, Any]) -> Violation:
        return cls(
            rule=raw["id"],
            impact=raw.get("impact") or "",
            help=raw["help"],
            help_url=raw.get("helpUrl", ""),
            targets=tuple(_selector(node["target"]) for node in raw["nodes"]),
        )

    def describe(self) -> str:
        elements = "\n".join(f"    {target}" for target in self.targets)
        return f"[{self.impact}] {self.rule}: {self.help} ({self.help_url})\n{elements}"


def _selector(target: list[Any]) -> str:
    # Elements inside iframes or shadow roots have one selector per level.
    return " >>> ".join(part if isinstance(part, str) else " >>> ".join(part) for part in target)


def axe_violations(page: Page) -> list[Violation]:
    """Every axe violation on the page as it is now, whatever its impact."""
    # Evaluated through the browser's protocol, not added as an inline <script>: the pages' Content-Security-Policy
    # (script-src 'self') rightly refuses inline scripts, and the test must not weaken it to look at the page.
    page.evaluate(axe_script().read_text(encoding="utf-8"))
    result = page.evaluate(
        "options => axe.run(document, options)",
        {"runOnly": {"type": "tag", "values": list(AXE_TAGS)}, "resultTypes": ["violations"]},
    )
    return [Violation.from_axe(raw) for raw in result["violations"]]


def screenshot(page: Page, name: str) -> Path:
    """The whole page, saved to ``artifacts/screenshots/<name>.png``."""
    path = SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True)
    return path


def assert_accessible(page: Page, name: str, *, impacts: frozenset[str] = BLOCKING_IMPACTS) -> None:
    """Screenshot the page, then fail if axe finds any violation of these impacts (serious or critical unless
    told, e.g. :data:`MODERATE_AND_ABOVE`).

    The screenshot is taken first so that a failing page can be looked at.
    """
    shot = screenshot(page, name)
    blocking = [v for v in axe_violations(page) if v.impact in impacts]
    if blocking:
        listed = "\n".join(v.describe() for v in blocking)
        count = len(blocking)
        levels = " or ".join(sorted(impacts))
        raise AssertionError(f"{page.url}: {count} {levels} axe violation(s), screenshot {shot}:\n{listed}")
