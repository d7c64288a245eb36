"""Issue 13's audit of reads: the principal's pupil file page and the delivery data of one message (its page and
the API's progress and responses) each leave one entry per view, never one per refresh, and the audit page
filters them."""

from __future__ import annotations

import datetime as dt

from tests.web.conftest import Site
from tests.web.test_school_setup_pages import _class_3b, _entries, _id_of, _sign_in, school_site

__all__ = ["school_site"]


def test_the_pupil_file_page_leaves_one_entry_per_view(school_site: Site, at_school_hours: dt.datetime) -> None:
    site = school_site
    _, pupil = _class_3b(site)
    anne = _id_of(site, "anne@ecole.be")
    _sign_in(site, "anne@ecole.be")
    assert site.client.get(f"/staff/pupils/{pupil}").status_code == 200
    assert _entries(site, "pupil.records_read", actor_id=anne, subject_type="pupil", subject_id=str(pupil)) == 1
    assert site.client.get(f"/staff/pupils/{pupil}").status_code == 200
    assert _entries(site, "pupil.records_read", actor_id=anne, subject_id=str(pupil)) == 2
    assert site.client.get("/staff/pupils/99999999").status_code == 404  # nothing read, nothing written
    assert _entries(site, "pupil.records_read", actor_id=anne) == 2
    shown = site.client.get(f"/staff/audit?what=pupil.records_read&who={anne}&lang=en")
    assert shown.status_code == 200 and shown.text.count("<tr data-entry=") == 2


def test_a_message_s_delivery_data_leaves_one_entry_per_view_not_per_refresh(
    school_site: Site, at_school_hours: dt.datetime
) -> None:
    site = school_site
    group, _ = _class_3b(site)
    marc = _id_of(site, "marc.dubois@ecole.be")
    _sign_in(site, "marc.dubois@ecole.be")
    form = {"action": "preview", "subject": "Sortie", "body": "Chers parents", "category": "trip", "urgency": "normal"}
    draft = site.post("/staff/compose", {**form, "group": str(group)}, form_page="/staff/compose")
    message = int(draft.headers["location"].split("/")[3])
    assert site.post(f"/staff/compose/{message}/send", form_page=f"/staff/compose/{message}/preview").status_code == 303
    assert _entries(site, "message.delivery_viewed") == 0

    assert site.client.get(f"/staff/messages/{message}").status_code == 200
    assert _entries(site, "message.delivery_viewed", actor_id=marc, subject_id=str(message)) == 1
    for _ in range(3):  # the page's own refresh is the same view
        assert site.client.get(f"/staff/messages/{message}/progress.json").status_code == 200
    assert _entries(site, "message.delivery_viewed", actor_id=marc) == 1
    assert site.client.get(f"/api/v1/messages/{message}/progress").status_code == 200
    assert site.client.get(f"/api/v1/messages/{message}/responses").status_code == 200
    entries = site.run(lambda: _details(marc))
    assert entries == [("page", None), ("api", "progress"), ("api", "responses")]
    assert site.client.get("/api/v1/messages/99999999/progress").status_code == 404
    assert site.client.get("/staff/messages/99999999").status_code == 404
    assert _entries(site, "message.delivery_viewed", actor_id=marc) == 3

    _sign_in(site, "anne@ecole.be")
    by_kind = site.client.get(f"/staff/audit?what=message.delivery_viewed&who={marc}&lang=en")
    assert by_kind.status_code == 200 and by_kind.text.count("<tr data-entry=") == 3
    assert "<code>message.delivery_viewed</code>" in by_kind.text


async def _details(actor: int) -> list[tuple[str, str | None]]:
    from hub.store.audit import AuditEntry

    found = await AuditEntry.filter(action="message.delivery_viewed", actor_id=actor).order_by("id")
    return [(e.details["via"], e.details.get("what")) for e in found]
