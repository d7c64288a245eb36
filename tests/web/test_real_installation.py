"""From an empty database to a teacher's message reaching both separated parents, as a school's IT coordinator
does it: the ``carnet`` commands in their own processes (school init, the roster, the staff file, a recovery),
then the web app with email towards a real local SMTP server. The teacher signs in with the link flow: asks for a
link on the sign-in page, reads it in their mailbox, opens it, presses the button. Nothing is mocked."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from channels.peers.smtp import SmtpPeer
from channels.registry import build_adapters
from hub import clock
from hub.config import Settings
from hub.delivery.dispatch import dispatch_due
from hub.enums import Channel, ConsentPurpose, DeliveryState, GroupKind
from hub.messaging.models import Delivery
from hub.people import security
from hub.people.models import Group, Guardian, School, Staff
from hub.people.school_setup import create_staff_link
from hub.store.audit import AuditEntry
from tests.web.conftest import Site, _serve, mail_text

DATA = Path(__file__).parent.parent / "data"
ROOT = Path(__file__).resolve().parent.parent.parent


def _carnet(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    env.update(CARNET_DATA_DIR=str(tmp_path), CARNET_DATABASE_URL=db_url, CARNET_BASE_URL="https://carnet.ecole.be")
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        stdin=subprocess.DEVNULL,
    )


INIT = (
    "school",
    "init",
    "--no-input",
    "--name",
    "Athénée Royal de Namur",
    "--timezone",
    "Europe/Brussels",
    "--language",
    "fr",
    "--address",
    "Rue de Bruxelles 1, 5000 Namur",
    "--dpo-name",
    "Julie Renard",
    "--dpo-email",
    "dpo@ecole.be",
    "--admin",
    "Anne",
    "Lambert",
    "anne@ecole.be",
    "--admin",
    "Sophie",
    "Martin",
    "sophie@ecole.be",
)


def _wait_for_mail(peer: SmtpPeer, to: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in peer.mailbox.messages:
            if to in str(message["To"]):
                return mail_text(message)
        time.sleep(0.05)
    raise AssertionError(f"no mail to {to}")


#: The enrolment file of the test: Lina (3B) has separated parents, each with their own email and household.
ROSTER = (
    "pupil_id,pupil_first_name,pupil_last_name,class,courses,guardian_id,guardian_first_name,guardian_last_name,"
    "relation,household_id,street,postal_code,city,email\n"
    """P1,Lina,Peeters,3B,,G1,Ann,Peeters,mère,H1,Rue de la Loi 16,1000,Bruxelles,ann.peeters@example.be
P1,Lina,Peeters,3B,,G2,Marc,Peeters,père,H2,Rue Haute 3,5000,Namur,marc.peeters@example.be
P2,Tom,Dubois,3C,LAT3,G4,Sophie,Dubois,mother,H3,Avenue Louise 200,1050,Ixelles,sophie.dubois@example.be
"""
)


def test_from_an_empty_database_to_a_teacher_reaching_both_separated_parents(
    db_url: str, tmp_path: Path, smtp_peer: SmtpPeer, at_school_hours: dt.datetime
) -> None:
    # 1. The school and its first two administrators, with their links.
    init = _carnet(db_url, tmp_path, *INIT)
    assert init.returncode == 0, init.stderr
    links = re.findall(r"https://carnet\.ecole\.be/staff/s/[\w-]+", init.stdout)
    assert len(links) == 2 and "Anne Lambert <anne@ecole.be>" in init.stdout
    # ... once only: a second init changes nothing and says why.
    again = _carnet(db_url, tmp_path, *INIT)
    assert again.returncode == 2 and "already holds a school" in again.stderr and "Traceback" not in again.stderr

    # 2. The roster, then the staff file.
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    roster = _carnet(db_url, tmp_path, "import", str(tmp_path / "roster.csv"), "--quiet")
    assert roster.returncode == 0, roster.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("staff_id,first_name,last_name,email,roles\nS-1,,X,nope,wizard\n", encoding="utf-8")
    refused = _carnet(db_url, tmp_path, "import-staff", str(bad))
    assert refused.returncode == 2 and "ligne 2, colonne email" in refused.stderr and "Traceback" not in refused.stderr
    staff = _carnet(db_url, tmp_path, "import-staff", str(DATA / "staff_valid.csv"))
    assert staff.returncode == 0 and "2 created" in staff.stdout, staff.stderr
    same = _carnet(db_url, tmp_path, "import-staff", str(DATA / "staff_valid.csv"))
    assert same.returncode == 0 and "nothing changed" in same.stdout

    # 3. The server's operator recovers access for a teacher (audited, shown to the administrators).
    recover = _carnet(db_url, tmp_path, "admin", "recover", "els.peeters@ecole.be")
    assert recover.returncode == 0 and "is now an administrator" in recover.stdout, recover.stderr
    unknown = _carnet(db_url, tmp_path, "admin", "recover", "nobody@ecole.be")
    assert unknown.returncode == 2 and "no member of staff" in unknown.stderr

    # 4. The web app, with email through a real local SMTP server.
    settings = Settings(
        data_dir=tmp_path,
        database_url=db_url,
        base_url="http://testserver",
        smtp_host="127.0.0.1",
        smtp_port=smtp_peer.port,
        smtp_starttls=False,
        smtp_sender="Athénée <ecole@example.be>",
    )
    for site in _serve(settings):
        _teacher_sends_to_their_class(site, smtp_peer)


def _teacher_sends_to_their_class(site: Site, peer: SmtpPeer) -> None:
    async def facts() -> tuple[str, int, list[int]]:
        school = await School.get()
        group = await Group.get(kind=GroupKind.CLASS, code="3B")
        # Lina Peeters's separated parents: two households, each their own notice.
        parents = await Guardian.filter(external_id__in=["G1", "G2"]).order_by("external_id")
        assert len({p.household_id for p in parents}) == 2
        return school.name, group.id, [p.id for p in parents]

    school_name, group, parents = site.run(facts)
    assert school_name == "Athénée Royal de Namur"

    # Each parent, on their own, signs in with a personal link and accepts the school's messages by email.
    for parent in parents:
        site.client.cookies.clear()
        token = site.run(lambda p=parent: security.create_sign_in_link(p, clock.now()))
        assert site.post(f"/s/{token}", form_page=f"/s/{token}").status_code == 303
        consents = {"purpose": [str(ConsentPurpose.SCHOOL_MESSAGES), str(ConsentPurpose.EMAIL)]}
        assert site.post("/portal/consents", consents, form_page="/portal/channels").status_code == 303

    # The teacher asks for a link, reads it in their mailbox, opens it and presses the button.
    site.client.cookies.clear()
    asked = site.post("/login/link", {"email": "marc.dubois@ecole.be"}, form_page="/login")
    assert asked.status_code == 200
    link = re.search(r"http://testserver(/staff/s/[\w-]+)", _wait_for_mail(peer, "marc.dubois@ecole.be"))
    assert link, "the mail holds the link"
    opened = site.client.get(link.group(1))
    assert opened.status_code == 200
    signed_in = site.post(link.group(1), form_page=link.group(1))
    assert signed_in.status_code == 303
    assert "Marc Dubois" in site.client.get("/staff").text

    # They write to their class and send.
    form = {
        "action": "preview",
        "subject": "Réunion de parents",
        "body": "Chers parents,\n\nLa réunion de parents a lieu jeudi à 18 h.",
        "category": "information",
        "urgency": "normal",
        "group": str(group),
    }
    draft = site.post("/staff/compose", form, form_page="/staff/compose")
    assert draft.status_code == 303, draft.text
    message = int(draft.headers["location"].split("/")[3])
    sent = site.post(f"/staff/compose/{message}/send", form_page=f"/staff/compose/{message}/preview")
    assert sent.status_code == 303, sent.text

    # The worker's pass (the one ``carnet worker`` runs) sends what is due through the real SMTP client.
    async def send_due() -> None:
        adapters = build_adapters(site.settings)
        try:
            await dispatch_due(adapters, now=clock.now(), base_url=site.settings.base_url)
        finally:
            for adapter in adapters.values():
                await adapter.close()

    site.run(send_due)
    for address in ("ann.peeters@example.be", "marc.peeters@example.be"):
        assert "La réunion de parents a lieu jeudi" in _wait_for_mail(peer, address)

    # Both also find it in their portal.
    for parent in parents:
        site.client.cookies.clear()
        token = site.run(lambda p=parent: security.create_sign_in_link(p, clock.now()))
        assert site.post(f"/s/{token}", form_page=f"/s/{token}").status_code == 303
        inbox = site.client.get("/portal")
        assert inbox.status_code == 200 and "Réunion de parents" in inbox.text

    async def emailed() -> list[str]:
        rows = await Delivery.filter(notice__message_id=message, notice__guardian_id__in=parents, channel=Channel.EMAIL)
        return sorted(str(d.state) for d in rows)

    assert site.run(emailed) == [str(DeliveryState.SENT)] * 2

    # The administrators see the recovery at their next sign-in; the log holds it once.
    async def anne_link() -> str:
        return await create_staff_link((await Staff.get(email="anne@ecole.be")).id, clock.now())

    site.client.cookies.clear()
    token = site.run(anne_link)
    assert site.post(f"/staff/s/{token}", form_page=f"/staff/s/{token}").status_code == 303
    home = site.client.get("/staff?lang=en")
    assert "Els Peeters was made administrator" in home.text
    assert site.run(lambda: AuditEntry.filter(action="admin.recovered").count()) == 1
