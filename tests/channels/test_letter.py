"""Printed letters: one PDF print batch, read back with pypdf, the talon's QR code decoded with zxing-cpp."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from channels.base import Rendered
from channels.letter import (
    Letter,
    LetterAdapter,
    LetterQuestion,
    LetterRecipient,
    LetterSchool,
    LetterSlip,
    deadline_text,
    render_letters,
)
from hub.enums import Channel, DeliveryState, ErrorKind, QuestionKind

SCHOOL = LetterSchool(
    name="Athénée royal de l’Œuvre",
    address_lines=("Rue de l’École 12", "1000 Bruxelles"),
    phone="02 123 45 67",
    email="secretariat@athenee.example.be",
)
LINK = "https://carnet.athenee.example.be/r/7fQk2LmZp9XwT3vB"
CODE = "K7P-4QX"
# 14:00 in Brussels (winter time).
DEADLINE = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


def slip_letter() -> Letter:
    return Letter(
        school=SCHOOL,
        recipient=LetterRecipient("Madame Sophie Dupont", ("Avenue des Cœurs 5 bte 3", "1040 Etterbeek")),
        language="fr",
        date=date(2026, 11, 23),
        subject="Excursion au musée d’histoire naturelle",
        body=(
            "Chers parents,\n\nLe jeudi 3 décembre, la classe de 3B visitera le musée : départ à 8 h 30, "
            "retour vers 15 h 30. L’œuvre de l’après-midi sera consacrée aux dinosaures « géants ».\n\n"
            "Merci de nous rendre le talon ci-dessous, complété et signé."
        ),
        pupils=["Emma Dupont (3B)", "Lucas Dupont (1A)"],
        link=LINK,
        short_code=CODE,
        needs_acknowledgement=True,
        slip=LetterSlip(
            deadline=DEADLINE,
            needs_signature=True,
            pupils=["Emma Dupont", "Lucas Dupont"],
            questions=[
                LetterQuestion(1, QuestionKind.YES_NO, "Votre enfant participe-t-il à l’excursion ?"),
                LetterQuestion(2, QuestionKind.ONE_CHOICE, "Repas", ["Pique-nique", "Repas chaud", "Végétarien"]),
                LetterQuestion(3, QuestionKind.MANY_CHOICES, "Allergies", ["Gluten", "Arachides", "Lactose"]),
                LetterQuestion(4, QuestionKind.FREE_TEXT, "Remarques éventuelles"),
                LetterQuestion(5, QuestionKind.AMOUNT, "Participation aux frais (12 € par enfant)"),
            ],
        ),
    )


def plain_letter() -> Letter:
    return Letter(
        school=SCHOOL,
        recipient=LetterRecipient("Famille Martin", ("Chaussée de Wavre 210", "1050 Ixelles")),
        language="fr",
        date=date(2026, 11, 23),
        subject="Réunion de parents du 10 décembre",
        body="\n\n".join(f"Paragraphe {n} : une réunion aura lieu, soyez les bienvenus. " * 8 for n in range(12)),
        pupils=["Noah Martin (5A)"],
        link="https://carnet.athenee.example.be/r/other",
    )


def dutch_letter() -> Letter:
    return Letter(
        school=SCHOOL,
        recipient=LetterRecipient("Familie Peeters", ("Kerkstraat 1", "1000 Brussel")),
        language="nl",
        date=date(2026, 11, 23),
        subject="Schoolreis naar het museum",
        body="Beste ouders,\n\nOp donderdag 3 december bezoekt de klas het museum.",
        pupils=["Jan Peeters"],
        link="https://carnet.athenee.example.be/r/nl",
        short_code="ZZ9-8AB",
        slip=LetterSlip(
            deadline=DEADLINE,
            questions=[LetterQuestion(1, QuestionKind.YES_NO, "Neemt uw kind deel?")],
        ),
    )


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def decoded_qr_codes(pdf: bytes) -> list[tuple[int, str]]:
    """Every QR code among the images embedded in the PDF, with its page index."""
    found = []
    for index, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):
        for embedded in page.images:
            image = embedded.image.convert("L")
            # A wider white margin and a larger size than the PDF's: decoders like room around the code.
            canvas = Image.new("L", (image.width + 80, image.height + 80), 255)
            canvas.paste(image, (40, 40))
            found += [
                (index, result.text) for result in zxingcpp.read_barcodes(canvas, formats=zxingcpp.BarcodeFormat.QRCode)
            ]
    return found


def test_a_batch_of_three_letters() -> None:
    pdf = render_letters([slip_letter(), plain_letter(), dutch_letter()])
    assert pdf.startswith(b"%PDF")
    texts = page_texts(pdf)
    assert len(texts) >= 4  # the long plain letter takes two pages
    everything = "\n".join(texts)

    first = texts[0]
    assert "Excursion au musée d’histoire naturelle" in first
    assert "Madame Sophie Dupont" in first
    assert "Avenue des Cœurs 5 bte 3" in first
    assert "1040 Etterbeek" in first
    assert "Bruxelles, le 23 novembre 2026" in first
    assert "Emma Dupont (3B), Lucas Dupont (1A)" in first
    # The acknowledgement box is on the talon, below the cut line: the part that comes back to school.
    assert "Accusé de réception" not in first.split("✂")[0]
    talon = everything.split("✂", 1)[1]
    assert "Accusé de réception" in talon and "J’ai pris connaissance de ce courrier." in talon
    # The deadline in Brussels time, the talon with all its parts, the short code by the QR code.
    assert "avant le lundi 30 novembre 2026 à 14:00" in everything
    assert "✂" in everything
    for words in ("Talon-réponse", "Oui", "Non", "Repas chaud", "Arachides", "Montant", "Nom du responsable"):
        assert words in everything
    assert "Signature" in everything
    assert CODE in everything
    assert "tapez K7P-4QX sur carnet.athenee.example.be" in everything.replace("\n", " ")

    # The plain letter starts on a new page and has no talon.
    martin = next(i for i, text in enumerate(texts) if "Famille Martin" in text)
    assert martin > 0 and "Réunion de parents du 10 décembre" in texts[martin]
    assert all("Talon-réponse" not in text for text in texts[martin:] if "Familie Peeters" not in text)

    # The Dutch letter: Dutch labels, on the last page.
    assert "Familie Peeters" in texts[-1]
    assert "Betreft: Schoolreis naar het museum" in texts[-1]
    assert "maandag 30 november 2026 om 14:00" in texts[-1]
    assert "Antwoordstrook" in texts[-1] and "ZZ9-8AB" in texts[-1]
    assert "Handtekening" not in texts[-1]  # no signature asked


def test_the_qr_code_decodes_to_the_personal_link() -> None:
    pdf = render_letters([slip_letter(), plain_letter(), dutch_letter()])
    texts = page_texts(pdf)
    codes = decoded_qr_codes(pdf)
    # Only the letters with a talon carry a QR code, each its own guardian's link, on the talon's page.
    assert sorted(text for _, text in codes) == sorted([LINK, "https://carnet.athenee.example.be/r/nl"])
    for index, link in codes:
        assert "Talon-réponse" in texts[index] or "Antwoordstrook" in texts[index]
        if link == LINK:
            assert CODE in texts[index]


def test_french_typography_renders() -> None:
    letter = slip_letter()
    odd = Letter(
        school=letter.school,
        recipient=letter.recipient,
        language="fr",
        date=date(2026, 12, 1),
        subject="Sœurs et frères : l’œuf, « naïveté » — déjà… ½ €",
        body="Ça s’écrit « ainsi » ; évidemment\u202f! Tab\there, and an emoji 🎄 that DejaVu lacks.",
        slip=letter.slip,
        link=LINK,
        short_code=CODE,
    )
    text = "\n".join(page_texts(render_letters([odd])))
    assert "Sœurs et frères : l’œuf, « naïveté » — déjà… ½ €" in text
    assert "le 1er décembre 2026" in text


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        render_letters([])


def test_deadline_at_midnight_shows_the_day_only() -> None:
    assert deadline_text(datetime(2026, 6, 1), "en") == "Monday 1 June 2026"
    assert deadline_text(datetime(2026, 6, 1, 9, 30), "xx") == "lundi 1er juin 2026 à 09:30"


async def test_the_adapter_queues_and_flushes(tmp_path) -> None:
    adapter = LetterAdapter(SCHOOL, today=date(2026, 11, 23))
    assert adapter.channel == Channel.LETTER
    message = Rendered(language="en", subject="Swimming on Friday", text="Dear parents,\n\nBring a towel.")
    outcome = await adapter.send("Mr John Smith\nRue Haute 3\n1000 Bruxelles", message)
    assert outcome.state == DeliveryState.SENT and outcome.provider_id == "print-batch:1"
    assert adapter.queue(slip_letter()).provider_id == "print-batch:2"

    no_address = await adapter.send("Mr Nobody", message)
    assert no_address.error_kind == ErrorKind.PERMANENT

    path = adapter.flush(tmp_path / "batch.pdf")
    texts = page_texts(path.read_bytes())
    assert "Subject: Swimming on Friday" in texts[0] and "Rue Haute 3" in texts[0]
    assert "Bruxelles, 23 November 2026" in texts[0]
    assert adapter.batch == []
    with pytest.raises(ValueError):
        adapter.render_batch()


def test_without_dejavu_the_core_fonts_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("channels.letter.find_unicode_fonts", lambda: None)
    pdf = render_letters([slip_letter(), dutch_letter()])
    text = "\n".join(page_texts(pdf))
    assert "8< À découper et à rendre avant le lundi 30 novembre 2026 à 14:00" in text
    assert "Athénée royal de l'OEuvre" in text
    assert "Signature" in text and CODE in text
    assert sorted(link for _, link in decoded_qr_codes(pdf)) == sorted([LINK, "https://carnet.athenee.example.be/r/nl"])
