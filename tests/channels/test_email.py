"""Email through the real aiosmtplib client and a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
from collections.abc import Iterator

import pytest

from channels.base import Envelope, Rendered
from channels.email import EmailAdapter, EmailSettings, build_mime, mime_bytes
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


def _read(raw: bytes) -> email.message.EmailMessage:
    # CRLF line ends, as the SMTP client sends them
    parsed = email.message_from_bytes(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage) and not parsed.defects
    return parsed


def _leaves(mail: email.message.EmailMessage) -> list[tuple[str, str, str | None, dict[str, str]]]:
    return [
        (part.get_content_type(), part.get_content(), part.get_filename(), dict(part.get_params() or []))
        for part in mail.walk()
        if not part.is_multipart()
    ]


@pytest.mark.parametrize(
    "message",
    [
        Rendered(
            language="fr",
            subject="Évacuation de l'école : « venez » chercher vos enfants",
            text="Bonjour Zoë,\n" + "très long paragraphe " * 20 + "\n. un point en tête de ligne\nfin  \n",
            html='<p style="margin:0">Bonjour Zoë &amp; Éric</p>\n' + "<b>x</b>" * 200,
            link="https://carnet.example.be/n/zoe-token",
            unsubscribe="https://carnet.example.be/unsubscribe/5/zoe-token",
            calendar="BEGIN:VCALENDAR\r\nSUMMARY:Talon à rendre\r\n" + "X-LONG:" + "z" * 200 + "\r\nEND:VCALENDAR\r\n",
            idempotency_key="delivery-5",
        ),
        Rendered(language="nl", subject="Zwembad", text="Alleen ASCII.", link="https://x.be/n/t", reply_to="r@x.be"),
        Rendered(language="en", subject="s" * 150, text="t", html="<b>h</b>", idempotency_key="delivery-7"),
    ],
)
def test_the_wire_form_is_the_message_build_mime_makes(message: Rendered) -> None:
    """What the adapter sends (bytes written directly) reads, in a mail client, as the standard library's message:
    the same headers, the same parts with the same contents, the calendar attached."""
    settings = EmailSettings(
        host="smtp.example.be", sender="École Royale <ecole@example.be>", return_path_key=b"k" * 32
    )
    now = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
    reference = _read(build_mime(settings, "parent@example.be", message, now=now).as_bytes(policy=email.policy.SMTP))
    sent = _read(mime_bytes(settings, "parent@example.be", message, now=now, message_id=str(reference["Message-ID"])))
    assert sent.get_content_type() == reference.get_content_type()
    headers = {name: str(value) for name, value in sent.items() if name != "Content-Type"}
    assert headers == {name: str(value) for name, value in reference.items() if name != "Content-Type"}
    assert _leaves(sent) == _leaves(reference)
    assert all(len(line) <= 78 for line in mime_bytes(settings, "p@x.be", message, now=now).splitlines())
