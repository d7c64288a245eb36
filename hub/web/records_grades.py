"""The staff's grade book pages: the evaluations of the classes and courses one may grade, a new evaluation, one
screen per evaluation with the whole class's scores and comments (a table of inputs, Tab or Enter to the next
pupil, usable on a phone), a CSV file instead, publishing, the class's grades as CSV, and the principal's report
cards for a class.

Thin: the work is :mod:`hub.records.grades` and :mod:`hub.records.report_cards`, which the JSON API
(:mod:`hub.web.api_records`) shares. An evaluation another teacher's class holds answers 404, a class one does not
teach 404 too: nothing is stored.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from channels.registry import available_channels
from hub import csvfile
from hub.people import audit_log
from hub.people.models import Group
from hub.records import grades, pupil_file, report_cards
from hub.records.models import Evaluation
from hub.web.guard import parse_id
from hub.web.kit import Actor, Web, now, staff_only

#: The largest grades file a form accepts (bytes): far above a class's, far below what could hurt.
MAX_UPLOAD = 256 * 1024


async def _evaluation(actor: Actor, request: Request) -> Evaluation:
    evaluation = await grades.writable_evaluation(actor, request.path_params["evaluation_id"])
    if evaluation is None:
        raise HTTPException(404, "not found")
    return evaluation


def routes(web: Web) -> list[BaseRoute]:
    async def list_page(request: Request, actor: Actor, *, status: int = 200, **values: Any) -> Response:
        groups = await grades.writable_groups(actor)
        return await web.render(
            request,
            "grades/index.html",
            status=status,
            groups=groups,
            evaluations=await grades.evaluations_of(actor),
            publishes_cards=bool(report_cards.PUBLISHERS.intersection(actor.roles)),
            classes=[g for g in groups if str(g.kind) == "class"],
            **values,
        )

    @staff_only(web)
    async def index(request: Request, actor: Actor) -> Response:
        """The evaluations one may grade; POST creates one and opens its class sheet."""
        if request.method == "GET":
            return await list_page(request, actor)
        form = await web.form(request)
        typed = {k: str(form.get(k, "")) for k in ("subject", "title", "term", "assessed_on", "max_score", "weight")}
        group_id = parse_id(form.get("group_id"))
        if group_id is None or await grades.writable_subjects(actor, group_id) is None:
            raise HTTPException(404, "not found")  # another teacher's class, as one that does not exist
        try:
            evaluation = await grades.create_evaluation(actor, group_id, typed, now=now())
        except grades.GradesError as exc:
            return await list_page(request, actor, status=422, errors=exc.errors, typed=typed, group_id=group_id)
        return RedirectResponse(f"/staff/grades/{evaluation.id}", status_code=303)

    async def sheet_page(
        request: Request, actor: Actor, evaluation: Evaluation, *, status: int = 200, **values: Any
    ) -> Response:
        group = await Group.get(id=evaluation.group_id)
        return await web.render(
            request,
            "grades/sheet.html",
            status=status,
            evaluation=evaluation,
            group=group,
            rows=await grades.sheet(evaluation),
            columns=", ".join(grades.CSV_COLUMNS),
            plain=grades.plain,
            **values,
        )

    @staff_only(web)
    async def sheet(request: Request, actor: Actor) -> Response:
        """One evaluation's class sheet; POST stores every score and comment, or nothing and says what is wrong."""
        evaluation = await _evaluation(actor, request)
        if request.method == "GET":
            return await sheet_page(request, actor, evaluation, saved=request.query_params.get("saved"))
        form = await web.form(request)
        entries: dict[int, tuple[str, str]] = {}
        for key in form:
            if key.startswith("score-"):
                pupil_id = parse_id(key.removeprefix("score-"))
                if pupil_id is None:
                    raise HTTPException(400, "bad pupil")
                entries[pupil_id] = (str(form.get(key, "")), str(form.get(f"comment-{pupil_id}", "")))
        try:
            await grades.record_scores(actor, evaluation, entries, now=now())
        except grades.GradesError as exc:
            return await sheet_page(request, actor, evaluation, status=422, errors=exc.errors, typed=entries)
        return RedirectResponse(f"/staff/grades/{evaluation.id}?saved=scores", status_code=303)

    @staff_only(web)
    async def upload(request: Request, actor: Actor) -> Response:
        """A grades file for this evaluation: all or nothing, errors by line."""
        evaluation = await _evaluation(actor, request)
        form = await web.form(request)
        file = form.get("file")
        data = await file.read(MAX_UPLOAD + 1) if isinstance(file, UploadFile) else b""
        problem = ""
        if not data:
            problem = "empty"
        elif len(data) > MAX_UPLOAD:
            problem = "too_large"
        if not problem:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                try:
                    text = data.decode("cp1252")  # Excel on Windows saves "CSV" in the system's code page
                except UnicodeDecodeError:
                    text, problem = "", "encoding"
        if problem:
            return await sheet_page(request, actor, evaluation, status=422, file_problem=problem)
        try:
            await grades.import_csv(actor, evaluation, text, now=now())
        except grades.GradesError as exc:
            return await sheet_page(request, actor, evaluation, status=422, file_errors=exc.errors)
        return RedirectResponse(f"/staff/grades/{evaluation.id}?saved=file", status_code=303)

    @staff_only(web)
    async def publish(request: Request, actor: Actor) -> Response:
        evaluation = await _evaluation(actor, request)
        await web.form(request)
        await grades.publish(actor, evaluation, now=now())
        return RedirectResponse(f"/staff/grades/{evaluation.id}?saved=published", status_code=303)

    @staff_only(web)
    async def export(request: Request, actor: Actor) -> Response:
        """A class's (or course's) grades and averages as CSV, of one term when named."""
        group_id = parse_id(request.query_params.get("group"))
        term = request.query_params.get("term", "").strip()[:20] or None
        data = await grades.class_grades_csv(actor, group_id, term) if group_id is not None else None
        if data is None:
            raise HTTPException(404, "not found")
        code = await Group.filter(id=group_id).values_list("code", flat=True)
        name = "".join(c for c in str(code[0]) if c.isalnum()) or "groupe"
        return Response(
            data,
            media_type=csvfile.MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="notes-{name}.csv"', "Cache-Control": "no-store"},
        )

    @staff_only(web, *report_cards.PUBLISHERS)
    async def publish_cards(request: Request, actor: Actor) -> Response:
        """The principal publishes a class's report cards of a term: each guardian gets one notice."""
        form = await web.form(request)
        group_id = parse_id(form.get("group_id"))
        term = str(form.get("term", ""))
        try:
            if group_id is None:
                raise report_cards.ReportCardError("group", "not a class of this school")
            done = await report_cards.publish_class(
                actor,
                group_id,
                term,
                now=now(),
                general_comment=str(form.get("comment", "")),
                charter=web.charter,
                available_channels=available_channels(web.settings),
            )
        except report_cards.ReportCardError as exc:
            status = 409 if exc.field == "term" and term.strip() else 422
            return await list_page(request, actor, status=status, card_error=exc, card_term=term)
        return await list_page(request, actor, cards_published=done, card_term=term)

    @staff_only(web, *pupil_file.READERS)
    async def pupil_page(request: Request, actor: Actor) -> Response:
        """The principal's file of one pupil: records, guardians and the messages about them."""
        found = await pupil_file.pupil_file(actor.school_id, request.path_params["pupil_id"])
        if found is None:
            raise HTTPException(404, "not found")
        await audit_log.staff_read(  # every staff read of a pupil's file is audited, one entry per read
            audit_log.PUPIL_READ,
            actor.id,
            at=now(),
            subject_type="pupil",
            subject_id=found.pupil.id,
            what="file",
            via="page",
        )
        return await web.render(request, "grades/pupil_file.html", file=found, plain=grades.plain)

    return [
        Route("/staff/pupils/{pupil_id:int}", pupil_page),
        Route("/staff/grades", index, methods=["GET", "POST"]),
        Route("/staff/grades/export.csv", export),
        Route("/staff/grades/{evaluation_id:int}", sheet, methods=["GET", "POST"]),
        Route("/staff/grades/{evaluation_id:int}/file", upload, methods=["POST"]),
        Route("/staff/grades/{evaluation_id:int}/publish", publish, methods=["POST"]),
        Route("/staff/report-cards", publish_cards, methods=["POST"]),
    ]
