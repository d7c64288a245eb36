"""The guardian's data export as a readable PDF: downloaded from the portal, audited, holding the guardian's own
data in their language and nothing of the other household."""

from __future__ import annotations

import io

from pypdf import PdfReader

from hub.enums import ContactKind
from hub.people.models import Contact, Guardian, Guardianship
from hub.privacy.export_pdf import export_pdf
from hub.store.audit import AuditEntry
from tests.web.conftest import Site


def _text(pdf: bytes) -> str:
    return " ".join(" ".join((page.extract_text() or "").split()) for page in PdfReader(io.BytesIO(pdf)).pages)


def test_a_pdf_of_odd_data_still_reads() -> None:
    data = {
        "school": "Athénée « Royal »",
        "exported_at": "2026-12-08T09:00:00+00:00",
        "guardian": {"first_name": "Zoë", "last_name": "Ǆemal 李", "street": None},
        "contacts": [{"kind": "email", "value": "zoe@example.be", "verified_at": "2026-11-01T08:00:00+00:00"}],
        "answers": [{"answers": {"1": "yes"}, "signed_name": ""}],
    }
    text = _text(export_pdf(data, language="nl"))
    assert "Mijn gegevens" in text and "zoe@example.be" in text and "2026-11-01 09:00" in text  # Brussels time
    assert "Mijn contactgegevens (1)" in text and "Mijn kinderen (0)" in text


async def _two_households() -> tuple[int, str, str]:
    rows = await Guardianship.filter(barred=False).order_by("pupil_id", "guardian_id").values("pupil_id", "guardian_id")
    by_pupil: dict[int, list[int]] = {}
    for row in rows:
        by_pupil.setdefault(row["pupil_id"], []).append(row["guardian_id"])
    for guardians in by_pupil.values():
        if len(guardians) < 2:
            continue
        emails = []
        for guardian_id in guardians[:2]:
            found = await Contact.filter(guardian_id=guardian_id, kind=ContactKind.EMAIL).first()
            emails.append(found.value if found else "")
        if all(emails) and emails[0] != emails[1]:
            return guardians[0], emails[0], emails[1]
    raise AssertionError("the demo has no two parents with their own email")


def test_the_portal_gives_my_data_as_a_pdf_and_audits_it(site: Site) -> None:
    guardian_id, mine, theirs = site.run(_two_households)
    me = site.run(lambda: Guardian.get(id=guardian_id))
    site.login_guardian(guardian_id)
    assert "Télécharger (PDF à lire)" in site.client.get("/portal/data").text
    response = site.post("/portal/data/export", {"format": "pdf"}, form_page="/portal/data")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].endswith('.pdf"')
    text = _text(response.content)
    assert "Mes données" in text and me.last_name in text and mine in text
    assert theirs not in text
    entry = site.run(
        lambda: AuditEntry.filter(action="guardian.data_exported", subject_id=str(guardian_id)).order_by("-id").first()
    )
    assert entry is not None and entry.details["format"] == "pdf"
