"""The staff side of messages: the home, the composer, its preview, and following what was sent.

* ``/staff`` — the home: my latest messages with their acknowledgement and answer rates, my drafts, the replies
  waiting (``/staff/inbox``) and, for the office, the letters to print (``/staff/print``).
* ``/staff/compose`` — the composer (GET: the form, ``?draft=`` to edit one; POST: ``action`` = ``preview``,
  ``save`` or ``add_question``, the last a round trip that adds a question row without JavaScript). A valid form
  is stored as a draft; ``/staff/compose/{id}/preview`` shows it as families will see it, and its ``send`` form
  publishes it (``hub.messaging.planning.publish``).
* ``/staff/messages`` and ``/staff/messages/{id}`` — what was sent, with the live progress
  (``progress.json``), the families one by one and the slip's answers as CSV (``responses.csv``).
* ``/staff/attachments/{id}`` — a file of a message this member may read.

Who may do what is :mod:`hub.messaging.composer`'s (over :mod:`hub.messaging.access`): a forged id gets 403 and stores
nothing, a
message the member may not read gets 404.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_timedelta
from babel.numbers import format_currency, format_decimal, format_percent
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from channels.letter import render_letters
from channels.registry import available_channels
from hub.delivery import drain
from hub.enums import AnswerMode, Category, Channel, MessageState, QuestionKind, Urgency
from hub.messaging import composer, sms_hints, translate_client, translations
from hub.messaging.composer import Fields, Upload
from hub.messaging.models import Message
from hub.messaging.planning import PlanningError
from hub.people import audit_log
from hub.web import guard, picker
from hub.web.kit import Actor, Web, attachment_download, now, page_translations, staff_only

_LOCALES = {"fr": "fr_BE", "nl": "nl_BE", "en": "en_GB"}

#: The words the pages show for the closed vocabularies (English msgids, translated in the templates).
CATEGORY_LABELS = {
    Category.INFORMATION: "Information",
    Category.EVENT: "Event",
    Category.TRIP: "Trip or outing",
    Category.ABSENCE: "Absence",
    Category.GRADES: "Grades",
    Category.REPORT_CARD: "Report card",
    Category.JOURNAL: "Class journal",
    Category.ADMINISTRATION: "Administration",
    Category.HEALTH: "Health",
    Category.SAFETY: "Safety",
}
URGENCY_LABELS = {
    Urgency.NORMAL: "Normal (respects the charter's hours)",
    Urgency.URGENT: "Urgent (today's matter, the charter's urgent hours)",
    Urgency.EMERGENCY: "Emergency (goes at once, written to the audit log)",
}
KIND_LABELS = {
    QuestionKind.YES_NO: "Yes or no",
    QuestionKind.ONE_CHOICE: "One choice",
    QuestionKind.MANY_CHOICES: "Several choices",
    QuestionKind.FREE_TEXT: "Free text",
    QuestionKind.AMOUNT: "Amount or number",
}
MODE_LABELS = {
    AnswerMode.ONE_PER_PUPIL: "One answer per pupil (either parent)",
    AnswerMode.EVERY_GUARDIAN: "Every guardian answers",
}
CHANNEL_LABELS = {
    Channel.PORTAL: "Portal",
    Channel.EMAIL: "Email",
    Channel.SMS: "SMS",
    Channel.WEBPUSH: "Web push",
    Channel.FCM: "Mobile push",
    Channel.TELEGRAM: "Telegram",
    Channel.LETTER: "Printed letter",
}
STATE_LABELS = {
    MessageState.DRAFT: "Draft",
    MessageState.SCHEDULED: "Scheduled",
    MessageState.PUBLISHED: "Sent",
    MessageState.CANCELLED: "Cancelled",
}
LANGUAGE_LABELS = {"fr": "French", "nl": "Dutch", "en": "English"}
REMINDER_LABELS = {72: "3 days before", 24: "1 day before", 4: "4 hours before"}


class Formats:
    """Numbers, money, shares and short times in the page's language (times in the school's zone)."""

    def __init__(self, lang: str, timezone: str) -> None:
        self.locale = _LOCALES.get(lang, "fr_BE")
        self.zone = ZoneInfo(timezone)

    def when(self, value: dt.datetime | None) -> str:
        """``23 nov., 13:55``: a time in a table, where the long date would not fit a phone."""
        return format_datetime(value, "d MMM, HH:mm", tzinfo=self.zone, locale=self.locale) if value else ""

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.locale)

    def money(self, value: Any) -> str:
        return format_currency(value, "EUR", locale=self.locale)

    def percent(self, part: int, whole: int) -> str:
        return format_percent(part / whole if whole else 0, locale=self.locale)

    def duration(self, seconds: int) -> str:
        """``25 seconds``, ``3 minutes``: how long a send takes, rounded as Babel says it."""
        return format_timedelta(dt.timedelta(seconds=max(1, seconds)), threshold=1.5, locale=self.locale)

    def size(self, size: int) -> str:
        if size >= 1024 * 1024:
            return f"{format_decimal(round(size / 1024 / 1024, 1), locale=self.locale)} MB"
        return f"{format_decimal(max(1, round(size / 1024)), locale=self.locale)} kB"


class Words:
    """What the message page says of where a message and its families stand, in the page's language: the page
    and ``progress.json`` (whose rows the page's script writes into the table) say it with the same words."""

    def __init__(self, web: Web, lang: str) -> None:
        translations = page_translations(lang)
        self.gettext = translations.gettext
        self.ngettext = translations.ngettext
        self.fmt = Formats(lang, web.settings.timezone)
        self.date_time: Callable[[dt.datetime | None], str] = web.env(lang).filters["date_time"]

    def status(self, message: Message, standing: composer.FamilyProgress) -> list[str]:
        """The headline: when it goes out if it is held, else how far it went (in families)."""
        _ = self.gettext
        phase = standing.phase
        if MessageState(message.state) is MessageState.SCHEDULED:
            lines = [_("Scheduled: goes out %(date)s.") % {"date": self.date_time(message.scheduled_at)}]
            if standing.held_until and message.scheduled_at and standing.held_until > message.scheduled_at:
                lines.append(self.notifications_at(standing.held_until))
            return lines
        if phase == "held":
            assert standing.held_until is not None
            lines = [_("Scheduled: goes out %(date)s.") % {"date": self.date_time(standing.held_until)}]
            if standing.in_portal:
                lines.append(self.notifications_at(standing.held_until))
            return lines
        if phase == "sending":
            lines = [_("The message is on its way.")]
        elif phase == "partly_held":
            lines = [_("Part of the message went out.")]
        elif standing.failed:
            lines = [
                self.ngettext(
                    "Everything went out; %(num)s family could not be reached on any channel.",
                    "Everything went out; %(num)s families could not be reached on any channel.",
                    standing.failed,
                )
                % {"num": self.fmt.number(standing.failed)}
            ]
        else:
            lines = [_("Everything went out: every family has been reached.")]
        if standing.held and standing.held_until is not None:
            lines.append(
                self.ngettext(
                    "%(num)s family is held until %(date)s (the charter's hours).",
                    "%(num)s families are held until %(date)s (the charter's hours).",
                    standing.held,
                )
                % {"num": self.fmt.number(standing.held), "date": self.date_time(standing.held_until)}
            )
        return lines

    def notifications_at(self, when: dt.datetime) -> str:
        """The sentence the preview says too: the inbox has it at once, the channels that alert wait."""
        _ = self.gettext
        return _("Visible in the portal as soon as it is sent; the notifications (email, SMS…) go out %(date)s.") % {
            "date": self.date_time(when)
        }

    def delivery(self, row: composer.FamilyRow) -> str:
        """A family's cell "Delivery": the channel that reached it, or what it waits for."""
        _ = self.gettext
        if row.state == "delivered" and row.channel is not None:
            return _("Reached by %(channel)s") % {"channel": _(CHANNEL_LABELS[row.channel])}
        if row.state == "printed":  # handed over on paper, not known delivered (as the delivery report says)
            return _("Letter printed")
        if row.state == "sending":
            return _("Being sent")
        if row.state == "held":
            return _("Held until %(time)s") % {"time": self.fmt.when(row.held_until)}
        if row.state == "failed":
            return _("Failed on every channel")
        return _("In the portal inbox only")

    def read(self, row: composer.FamilyRow, needs_acknowledgement: bool) -> list[str]:
        """A family's cell "Read": when, and whether they acknowledged (when it is asked)."""
        _ = self.gettext
        lines = [self.fmt.when(row.read_at) if row.read_at else _("Not yet")]
        if row.read_at is None and row.opened_at is not None:  # fetched, maybe by a mail scanner: not a read
            lines.append(_("link opened %(date)s, no sign of reading") % {"date": self.fmt.when(row.opened_at)})
        if row.acknowledged_at:
            lines.append(_("acknowledged %(date)s") % {"date": self.fmt.when(row.acknowledged_at)})
        elif needs_acknowledgement:
            lines.append(_("not acknowledged yet"))
        return lines


def _page_number(request: Request) -> int:
    return guard.parse_page(request.query_params.get("page"))


def _path_id(request: Request, name: str = "message_id") -> int:
    return int(request.path_params[name])


async def _read_form(form: FormData) -> tuple[Fields, list[Upload]]:
    """The form's fields as strings, and its files read up to one byte past the limit (enough to refuse them)."""
    values: dict[str, list[str]] = {}
    uploads: list[Upload] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key == "attachments":
                data = await value.read(composer.MAX_ATTACHMENT_BYTES + 1)
                uploads.append(Upload(value.filename or "", data, value.content_type or ""))
        elif key != "csrf_token":
            values.setdefault(key, []).append(value)
    return Fields(values), uploads


def routes(web: Web) -> list[BaseRoute]:
    staff = staff_only(web)

    def labels(lang: str) -> dict[str, Any]:
        return {
            "CATEGORY_LABELS": CATEGORY_LABELS,
            "URGENCY_LABELS": URGENCY_LABELS,
            "KIND_LABELS": KIND_LABELS,
            "MODE_LABELS": MODE_LABELS,
            "CHANNEL_LABELS": CHANNEL_LABELS,
            "STATE_LABELS": STATE_LABELS,
            "LANGUAGE_LABELS": LANGUAGE_LABELS,
            "REMINDER_LABELS": REMINDER_LABELS,
            "fmt": Formats(lang, web.settings.timezone),
        }

    async def render(request: Request, actor: Actor, template: str, *, status: int = 200, **values: Any) -> Response:
        lang = web.language(request, actor)
        return await web.render(request, template, status=status, **labels(lang), **values)

    # ------------------------------------------------------------------------------------------- the home

    @staff
    async def home(request: Request, actor: Actor) -> Response:
        return await render(request, actor, "staff/dashboard.html", board=await composer.dashboard(actor))

    # --------------------------------------------------------------------------------------- the composer

    async def show_form(
        request: Request,
        actor: Actor,
        fields: Fields,
        *,
        draft_id: int | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
        **extra: Any,
    ) -> Response:
        school_language = await translations.school_language(actor.school_id)
        options = await composer.audience_options(actor)
        pupils = [(code, [(o.id, o.label) for o in found]) for code, found in options.pupils]
        return await render(
            request,
            actor,
            "staff/compose.html",
            status=status,
            v=fields,
            draft_id=draft_id,
            errors=errors or {},
            options=options,
            picker=picker.build(pupils, fields.all("pupil"), fields.one("pupil_q")),
            urgencies=composer.allowed_urgencies(web.charter, actor.roles),
            files=await composer.attachments_of(draft_id) if draft_id else [],
            reminder_choices=composer.REMINDER_CHOICES,
            max_files=composer.MAX_ATTACHMENTS,
            school_language=school_language,
            other_languages=[x for x in translations.LANGUAGES if x != school_language],
            LANGUAGE_NAMES=translations.LANGUAGE_NAMES,
            machine_translation=translate_client.enabled(web.settings),
            **extra,
        )

    async def own_draft_or_404(actor: Actor, message_id: int) -> Any:
        message = await composer.own_draft(actor, message_id)
        if message is None:
            raise HTTPException(404, "no such draft")
        return message

    @staff
    async def compose_form(request: Request, actor: Actor) -> Response:
        draft = request.query_params.get("draft", "")
        if draft:
            message = await own_draft_or_404(actor, guard.parse_id(draft) or 0)
            fields = await composer.draft_fields(message, web.charter)
            return await show_form(
                request, actor, fields, draft_id=message.id, saved=request.query_params.get("saved") == "1"
            )
        fields = Fields()
        for name in ("group", "pupil"):  # a link from elsewhere may name the audience (?group=12)
            fields.set(name, *request.query_params.getlist(name))
        return await show_form(request, actor, fields)

    @staff
    async def compose_post(request: Request, actor: Actor) -> Response:
        fields, uploads = await _read_form(await web.form(request))
        draft_value = fields.one("draft")
        draft_id = None
        if draft_value:
            draft_id = (await own_draft_or_404(actor, guard.parse_id(draft_value) or 0)).id
        files_dropped = any(u.filename or u.data for u in uploads)
        action = fields.one("action", "preview")
        if action == "find_pupils" or action.startswith("unpick-"):  # the pupil picker without JavaScript
            unpicked = action.removeprefix("unpick-") if action != "find_pupils" else ""
            fields.set("pupil", *[p for p in fields.all("pupil") if p != unpicked])
            return await show_form(
                request, actor, fields, draft_id=draft_id, files_dropped=files_dropped, focus_picker=True
            )
        if action == "add_question":
            fields.set("question_rows", min(composer.MAX_QUESTIONS, fields.question_rows + 1))
            fields.set("slip", "1")
            return await show_form(
                request, actor, fields, draft_id=draft_id, files_dropped=files_dropped, focus_row=fields.question_rows
            )
        draft, errors = composer.parse_form(fields, charter=web.charter, now=now(), uploads=uploads)
        draft.versions = translations.parse_versions(
            fields,
            school_language=await translations.school_language(actor.school_id),
            question_count=len(draft.slip.questions) if draft.slip else 0,
            errors=errors,
        )
        if action.startswith("translate:"):  # a machine translation's draft fills the form; nothing is saved
            target = action.removeprefix("translate:")
            school = translations.Version(
                await translations.school_language(actor.school_id),
                draft.subject,
                draft.body,
                tuple(
                    translations.QuestionText(q.text, q.choices) for q in (draft.slip.questions if draft.slip else ())
                ),
            )
            problem = await translate_client.fill_form(fields, web.settings, school, target)
            return await show_form(
                request,
                actor,
                fields,
                draft_id=draft_id,
                errors={f"tr_{target}_body": problem} if problem else {},
                status=422 if problem else 200,
                translated="" if problem else target,
                files_dropped=files_dropped,
            )
        try:
            await composer.check_audience(actor, draft.audience)
        except composer.ComposeRefused as exc:
            raise HTTPException(403, str(exc)) from exc
        if draft.urgency not in composer.allowed_urgencies(web.charter, actor.roles):
            raise HTTPException(403, f"your role may not send {draft.urgency} messages")
        if errors:
            return await show_form(
                request, actor, fields, draft_id=draft_id, errors=errors, status=422, files_dropped=files_dropped
            )
        try:
            message = await composer.save_draft(actor, draft, now=now(), message_id=draft_id)
        except composer.ComposeRefused as exc:
            raise HTTPException(403, str(exc)) from exc
        if action == "save":
            return RedirectResponse(f"/staff/compose?draft={message.id}&saved=1", status_code=303)
        return RedirectResponse(f"/staff/compose/{message.id}/preview", status_code=303)

    async def show_preview(
        request: Request, actor: Actor, message: Any, *, status: int = 200, **extra: Any
    ) -> Response:
        shown = request.query_params.get("show", "")
        lang = web.language(request, actor)
        preview = await composer.preview(
            message,
            charter=web.charter,
            available_channels=available_channels(web.settings),
            base_url=web.settings.base_url,
            now=now(),
        )
        response = await render(
            request,
            actor,
            "staff/compose_preview.html",
            status=status,
            p=preview,
            shown=shown if shown in preview.renderings else (lang if lang in preview.renderings else "fr"),
            preview_channels=composer.PREVIEW_CHANNELS,
            drains=drain.estimate(preview.first_channels, drain.configured_rates(web.settings)),
            **extra,
        )
        # The email preview (a sandboxed srcdoc frame, which inherits this policy) is styled inline, as mail is.
        response.headers["Content-Security-Policy"] = guard.CONTENT_SECURITY_POLICY_INLINE_STYLES
        return response

    @staff
    async def preview_page(request: Request, actor: Actor) -> Response:
        message = await own_draft_or_404(actor, _path_id(request))
        return await show_preview(request, actor, message)

    @staff
    async def letter_pdf(request: Request, actor: Actor) -> Response:
        """The printed letter of the preview, as the paper-only families will receive it."""
        message = await own_draft_or_404(actor, _path_id(request))
        preview = await composer.preview(
            message,
            charter=web.charter,
            available_channels=available_channels(web.settings),
            base_url=web.settings.base_url,
            now=now(),
        )
        letter = preview.letters.get(request.query_params.get("show", ""), preview.letters["fr"])
        return Response(
            render_letters([letter]),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="apercu-{message.id}.pdf"'},
        )

    @staff
    async def send_post(request: Request, actor: Actor) -> Response:
        await web.form(request)
        message = await own_draft_or_404(actor, _path_id(request))
        try:
            await composer.send(
                actor,
                message.id,
                charter=web.charter,
                available_channels=available_channels(web.settings),
                now=now(),
            )
        except composer.ComposeRefused as exc:
            raise HTTPException(403, str(exc)) from exc
        except PlanningError as exc:
            return await show_preview(request, actor, message, status=422, refused=str(exc))
        return RedirectResponse(f"/staff/messages/{message.id}?sent=1", status_code=303)

    @staff
    async def gsm7_post(request: Request, actor: Actor) -> Response:
        """The SMS hint's one click: the draft's subjects in their GSM-7 form, then the preview again."""
        await web.form(request)
        if not await sms_hints.apply_gsm7(actor.id, actor.school_id, _path_id(request), now=now()):
            raise HTTPException(404, "no such draft")
        return RedirectResponse(f"/staff/compose/{_path_id(request)}/preview?gsm7=1", status_code=303)

    @staff
    async def delete_post(request: Request, actor: Actor) -> Response:
        await web.form(request)
        if not await composer.delete_draft(actor, _path_id(request), now=now()):
            raise HTTPException(404, "no such draft")
        return RedirectResponse("/staff/messages?deleted=1", status_code=303)

    # ----------------------------------------------------------------------------------------- following up

    async def visible_or_404(actor: Actor, message_id: int) -> Any:
        message = await composer.visible_message(actor, message_id)
        if message is None:
            raise HTTPException(404, "no such message")
        return message

    @staff
    async def messages(request: Request, actor: Actor) -> Response:
        listing = await composer.sent_messages(actor, _page_number(request))
        return await render(
            request,
            actor,
            "staff/messages.html",
            listing=listing,
            drafts=await composer.my_drafts(actor),
            deleted=request.query_params.get("deleted") == "1",
        )

    @staff
    async def message(request: Request, actor: Actor) -> Response:
        found = await visible_or_404(actor, _path_id(request))
        page = await composer.message_page(actor, found, _page_number(request), now=now())
        # its delivery data, once per view (the page's own refresh, progress.json, is not another view)
        await audit_log.staff_read(
            audit_log.DELIVERY_VIEWED, actor.id, at=now(), subject_type="message", subject_id=found.id, via="page"
        )
        words = Words(web, web.language(request, actor))
        return await render(
            request,
            actor,
            "staff/message.html",
            m=page,
            headline=words.status(found, page.standing),
            words=words,
            moving=page.standing.sending > 0,
            sent=request.query_params.get("sent") == "1",
            drains=drain.estimate(await drain.waiting(found.id), drain.configured_rates(web.settings)),
        )

    @staff
    async def progress_json(request: Request, actor: Actor) -> Response:
        """The page's figures as they are now, for its script: the families by state (``families``), the
        headline (``status``), and the rows of the page of families asked for (``?page=``), with the cells'
        text in the page's language. ``states`` and ``summary`` count deliveries, for the curious."""
        found = await visible_or_404(actor, _path_id(request))
        at = now()
        words = Words(web, web.language(request, actor))
        states = await composer.channel_progress(found.id)
        counts = (await composer.counts_of([found.id]))[found.id]
        standing = await composer.family_progress(found.id, now=at)
        visible = await composer.restricted_pupils(actor, found)
        families = await composer.family_rows(found, visible, _page_number(request), now=at)
        return JSONResponse(
            {
                "message_id": found.id,
                "state": str(found.state),
                "states": states,
                "summary": composer.progress_summary(states),
                "drain_seconds": drain.longest(
                    drain.estimate(await drain.waiting(found.id), drain.configured_rates(web.settings))
                ),
                "counts": counts.__dict__,
                "families": standing.as_json(),
                "status": words.status(found, standing),
                "page": families.page,
                "rows": [
                    {
                        "notice_id": row.notice_id,
                        "state": row.state,
                        "held_until": row.held_until.astimezone(dt.UTC).isoformat() if row.held_until else None,
                        "delivery": words.delivery(row),
                        "read": words.read(row, found.needs_acknowledgement),
                    }
                    for row in families.rows
                ],
            },
            headers={"Cache-Control": "no-store"},
        )

    @staff
    async def responses_csv(request: Request, actor: Actor) -> Response:
        found = await visible_or_404(actor, _path_id(request))
        _ = web.gettext(web.language(request, actor))
        words = {
            "pupil": _("Pupil"),
            "class": _("Class"),
            "guardian": _("Guardian"),
            "answered_at": _("Answered on"),
            "channel": _("Channel"),
            "signed_name": _("Signed by"),
            "yes": _("Yes"),
            "no": _("No"),
            "question": _("Question"),
            "answer": _("Answer"),
            "amount": _("Amount (€)"),
            "count": _("Number"),
            "channel_portal": _("Portal"),
            "channel_email": _("Email"),
            "channel_sms": _("SMS"),
            "channel_webpush": _("Web push"),
            "channel_fcm": _("Mobile push"),
            "channel_telegram": _("Telegram"),
            "channel_letter": _("Printed letter"),
            "channel_link": _("Personal link"),
        }
        text = await composer.responses_csv(
            found, await composer.restricted_pupils(actor, found), tz=web.settings.timezone, words=words
        )
        await audit_log.staff_read(
            audit_log.RESPONSES_EXPORTED, actor.id, at=now(), subject_type="message", subject_id=found.id
        )
        return Response(
            text.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="carnet-reponses-{found.id}.csv"',
                "Cache-Control": "private, no-store",
            },
        )

    @staff
    async def attachment(request: Request, actor: Actor) -> Response:
        found = await composer.staff_attachment(actor, _path_id(request, "attachment_id"))
        if found is None:
            raise HTTPException(404, "no such file")
        return attachment_download(found)

    return [
        Route("/staff", home),
        Route("/staff/compose", compose_form),
        Route("/staff/compose", compose_post, methods=["POST"]),
        Route("/staff/compose/{message_id:int}/preview", preview_page),
        Route("/staff/compose/{message_id:int}/letter.pdf", letter_pdf),
        Route("/staff/compose/{message_id:int}/send", send_post, methods=["POST"]),
        Route("/staff/compose/{message_id:int}/delete", delete_post, methods=["POST"]),
        Route("/staff/compose/{message_id:int}/gsm7", gsm7_post, methods=["POST"]),
        Route("/staff/messages", messages),
        Route("/staff/messages/{message_id:int}", message),
        Route("/staff/messages/{message_id:int}/progress.json", progress_json),
        Route("/staff/messages/{message_id:int}/responses.csv", responses_csv),
        Route("/staff/attachments/{attachment_id:int}", attachment),
    ]
