"""Email through the real aiosmtplib client and a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from channels.base import Envelope, Rendered
from channels.email import EmailAdapter, EmailSettings
from channels.peers.smtp import SmtpPeer, _free_port
from hub.enums import DeliveryState, ErrorKind


@pytest.fixture
def peer() -> Iterator[SmtpPeer]:
    with SmtpPeer() as running:
        yield running


def _message(name: str) -> Rendered:
    return Rendered(
        language="fr",
        subject="Excursion à Bruxelles",
        text=f"Bonjour {name}, l'excursion a lieu vendredi.",
        html=f"<p>Bonjour {name}, l'excursion a lieu <strong>vendredi</strong>.</p>",
        link=f"http://127.0.0.1:8000/n/{name}-token",
        reply_to="titulaire.3b@athenee-demo.example.be",
    )


async def test_a_batch_arrives_with_text_html_headers_and_the_personal_link(peer: SmtpPeer) -> None:
    adapter = EmailAdapter(EmailSettings(host="127.0.0.1", port=peer.port))
    outcomes = await adapter.send_batch([Envelope(f"{n}@example.be", _message(n)) for n in ("ann", "tom", "lina")])
    assert [o.state for o in outcomes] == [DeliveryState.SENT] * 3
    assert len(peer.mailbox.messages) == 3
    mail = peer.mailbox.to("tom@example.be")[0]
    assert mail["Subject"] == "Excursion à Bruxelles"
    assert mail["Reply-To"] == "titulaire.3b@athenee-demo.example.be"
    assert mail["Message-ID"] == outcomes[1].provider_id
    assert mail["Date"] and mail["Content-Language"] == "fr"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Bonjour tom" in text and "http://127.0.0.1:8000/n/tom-token" in text
    assert "<strong>vendredi</strong>" in html


async def test_refused_and_deferred_recipients_are_classified(peer: SmtpPeer) -> None:
    adapter = EmailAdapter(EmailSettings(host="127.0.0.1", port=peer.port))
    dead, busy, fine = await adapter.send_batch(
        [Envelope(a, _message("x")) for a in ("bounce@example.be", "busy@example.be", "ok@example.be")]
    )
    assert dead.error_kind == ErrorKind.PERMANENT and dead.dead_contact and "550" in dead.error
    assert busy.error_kind == ErrorKind.TRANSIENT and not busy.dead_contact
    assert fine.ok
    assert [str(m["To"]) for m in peer.mailbox.messages] == ["ok@example.be"]


async def test_a_server_that_is_down_is_a_transient_failure() -> None:
    adapter = EmailAdapter(EmailSettings(host="127.0.0.1", port=_free_port(), timeout=5))
    outcome = await adapter.send("ann@example.be", _message("ann"))
    assert outcome.error_kind == ErrorKind.TRANSIENT and not outcome.dead_contact


def test_settings_are_checked_when_the_adapter_is_built() -> None:
    with pytest.raises(ValueError, match="host"):
        EmailSettings(host="")
    with pytest.raises(ValueError, match="not both"):
        EmailSettings(host="smtp.example.be", starttls=True, use_tls=True)
