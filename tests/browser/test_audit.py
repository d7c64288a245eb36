"""The audit page, the staff import page and the recovery banner in Chromium, each checked with axe-core and
photographed: the principal views the delivery report, then finds that view in the log by filtering on herself
and on its kind; the administrator sees an access recovery until she says she has seen it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from hub import clock
from hub.demo.school import STAFF_DOMAIN
from hub.people import school_setup
from hub.people.models import Staff
from hub.testing.browser import assert_accessible
from hub.testing.liveserver import LiveServer


def _sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Adresse e-mail", exact=True).fill(email)
    page.get_by_label("Mot de passe").fill("demo")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()


def test_the_principal_finds_her_view_of_the_report_in_the_audit_log(page: Page, live_server: LiveServer) -> None:
    async def principal() -> int:
        return (await Staff.get(email=f"direction@{STAFF_DOMAIN}")).id

    principal_id = live_server.run(principal)
    _sign_in(page, f"direction@{STAFF_DOMAIN}")
    page.goto("/staff/report")
    page.get_by_role("link", name="Journal d’audit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Journal d’audit")
    assert_accessible(page, "audit-log")

    page.get_by_label("Qui").select_option(str(principal_id))
    page.get_by_label("Quoi").select_option("report.viewed")
    page.get_by_role("button", name="Filtrer").click()
    rows = page.locator("tr[data-entry]")
    expect(rows.first).to_contain_text("report.viewed")
    assert all("report.viewed" in text for text in rows.all_inner_texts())
    assert_accessible(page, "audit-log-filtered")


def test_the_recovery_banner_and_the_staff_import_page(page: Page, live_server: LiveServer) -> None:
    live_server.run(lambda: school_setup.recover_access(f"secretariat@{STAFF_DOMAIN}", now=clock.now()))
    _sign_in(page, f"admin@{STAFF_DOMAIN}")
    banner = page.get_by_role("alert").filter(has_text="L’accès à l’école a été rétabli")
    expect(banner).to_be_visible()
    assert_accessible(page, "recovery-banner")
    page.goto("/staff/admin/staff-import")
    expect(banner).to_be_visible()  # on every page until seen
    assert_accessible(page, "staff-import")
    page.get_by_label("Fichier du personnel (CSV)").set_input_files(
        files=[{"name": "staff.csv", "mimeType": "text/csv", "buffer": b"staff_id,first_name\nS-1,Anne\n"}]
    )
    page.get_by_role("button", name="Importer", exact=True).click()
    expect(page.get_by_role("alert").filter(has_text="rien n’a été enregistré")).to_contain_text("3 erreurs")
    assert_accessible(page, "staff-import-errors")
    banner.get_by_role("button", name="J’en ai pris connaissance").click()
    expect(page.get_by_text("L’accès à l’école a été rétabli")).to_have_count(0)
