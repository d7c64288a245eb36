"""The demo's landing page names who to try, and its one-click sign-in exists only in the demo."""

from __future__ import annotations

from hub.demo.guide import demo_guide
from hub.demo.school import STAFF_DOMAIN
from hub.people.models import WebSession
from tests.web.conftest import Site


def test_the_guide_names_the_accounts_and_the_separated_parents(site: Site) -> None:
    guide = site.run(demo_guide)
    assert guide is not None and len(guide.separated_parents) == 2 and guide.paper_family
    page = site.client.get("/demo")
    assert page.status_code == 200
    assert f"prof.demo@{STAFF_DOMAIN}" in page.text and f"direction@{STAFF_DOMAIN}" in page.text
    for parent in guide.separated_parents:
        assert parent.name in page.text and f'action="/demo/signin/{parent.guardian_id}"' in page.text
    assert "3A" in guide.separated_pupil


def test_one_click_sign_in_is_refused_outside_the_demo(site: Site) -> None:
    guide = site.run(demo_guide)
    assert guide is not None
    parent = guide.separated_parents[0]
    response = site.post(f"/demo/signin/{parent.guardian_id}", form_page="/demo")
    assert response.status_code == 404  # `carnet serve` without CARNET_DEMO_PEERS: no back door
    assert site.run(WebSession.all().count) == 0


def test_outside_the_demo_no_demo_clock_and_no_jump(site: Site) -> None:
    """`carnet serve` without CARNET_DEMO_PEERS: the header shows no demo clock and its jump does not exist."""
    page = site.client.get("/demo")
    assert "Horloge de démo" not in page.text and "/demo/clock/jump" not in page.text
    response = site.post("/demo/clock/jump", {"next": "/demo"}, form_page="/demo")
    assert response.status_code == 404
