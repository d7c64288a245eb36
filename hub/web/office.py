"""The school office's pages: the print queue and its batches, the paper reply slips that come back, onboarding
(who has not confirmed their contacts, and their welcome letters), and the school's settings and staff.

The secretary, the principal and administrators use the first three; the settings are the administrators' (the
principal reads them). A teacher gets 403 everywhere here. The pages are thin: the work is in
:mod:`hub.messaging.office`, :mod:`hub.people.onboarding` and :mod:`hub.people.settings_admin`, which the JSON API can
share.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.enums import ActorKind, StaffRole
from hub.messaging import office
from hub.messaging.paper import NO, YES, PaperError
from hub.people import onboarding, settings_admin
from hub.people.models import Group, School, Staff
from hub.people.security import MIN_PASSWORD_LENGTH
from hub.store.audit import audit
from hub.web.guard import parse_id, parse_ids
from hub.web.kit import LANGUAGE_NAMES, Actor, Web, now, staff_only

OFFICE_ROLES = (StaffRole.SECRETARY, StaffRole.PRINCIPAL, StaffRole.ADMIN)
SETTINGS_ROLES = (StaffRole.PRINCIPAL, StaffRole.ADMIN)


def _pdf(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


def _int(value: Any) -> int | None:
    """An id from a query or a form (ASCII digits within the database's range), else None."""
    return parse_id(value)


def _chosen_id(value: Any) -> int | None:
    """The id a form names (None when it names none: "all"); 404 for a value that is no id (it names nothing,
    and must not be taken for "all")."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    found = parse_id(value)
    if found is None:
        raise HTTPException(404, "not found")
    return found


def _ids(value: Any) -> list[int]:
    """The delivery ids a print form carries ("12 15 18")."""
    return parse_ids(value.split() if isinstance(value, str) else ())


def routes(web: Web) -> list[BaseRoute]:
    # ------------------------------------------------------------------------------------------ print queue

    async def print_page(request: Request, actor: Actor, *, status: int = 200, **values: Any) -> Response:
        printed_id = _int(request.query_params.get("printed"))
        return await web.render(
            request,
            "office/print.html",
            status=status,
            queue=await office.print_queue(actor.school_id, now()),
            batches=await office.past_batches(actor.school_id),
            printed=await office.batch(printed_id, actor.school_id) if printed_id is not None else None,
            FROM_COMMAND=office.FROM_COMMAND,
            now=now(),  # a letter due later is "due <date>", never "waiting since" a day to come
            **values,
        )

    @staff_only(web, *OFFICE_ROLES)
    async def print_queue(request: Request, actor: Actor) -> Response:
        """The print queue; POST prints, at any hour, the letters the page showed (its ``ids``) that nobody
        printed meanwhile: one message's or all."""
        if request.method == "GET":
            return await print_page(request, actor)
        form = await web.form(request)
        shown = form.get("ids")
        batch = await office.print_letters(
            school_id=actor.school_id,
            staff_id=actor.id,
            now=now(),
            base_url=web.settings.base_url,
            message_id=_chosen_id(form.get("message_id")),
            delivery_ids=_ids(shown) if shown is not None else None,
        )
        if batch is None:
            return await print_page(request, actor, nothing_printed=True)
        return RedirectResponse(f"/staff/print?printed={batch.records[0].id}", status_code=303)

    @staff_only(web, *OFFICE_ROLES)
    async def batch_pdf(request: Request, actor: Actor) -> Response:
        batch_id = request.path_params["batch_id"]
        pdf = await office.batch_pdf(batch_id, actor.school_id, web.settings.base_url)
        if pdf is None:
            raise HTTPException(404, "not found")
        await audit(
            "paper.batch_downloaded",
            at=now(),
            actor_kind=ActorKind.STAFF,
            actor_id=actor.id,
            subject_type="print_batch",
            subject_id=batch_id,
        )
        return _pdf(pdf, f"lettres-{batch_id}.pdf")

    # ----------------------------------------------------------------------------------- paper reply slips

    async def paper_page(request: Request, *, status: int = 200, **values: Any) -> Response:
        return await web.render(request, "office/paper.html", status=status, YES=YES, NO=NO, **values)

    @staff_only(web, *OFFICE_ROLES)
    async def paper_form(request: Request, actor: Actor) -> Response:
        code = request.query_params.get("code", "").strip()
        if not code:
            return await paper_page(request)
        try:
            letter = await office.find_letter(code, actor.school_id)
        except office.LetterProblem as exc:
            status = 404 if exc.problem == "unknown" else 400
            return await paper_page(request, status=status, code=code, problem=exc.problem)
        return await paper_page(request, code=code, letter=letter, recorded=_int(request.query_params.get("recorded")))

    @staff_only(web, *OFFICE_ROLES)
    async def paper_answer(request: Request, actor: Actor) -> Response:
        form = await web.form(request)
        code = str(form.get("code", "")).strip()
        try:
            letter = await office.find_letter(code, actor.school_id)
        except office.LetterProblem as exc:
            return await paper_page(request, status=400, code=code, problem=exc.problem)
        pupil_id = _int(form.get("pupil_id")) or 0
        typed = {key: [str(v) for v in form.getlist(key)] for key in form}
        values: dict[str, Any] = {"code": code, "letter": letter, "typed": typed, "pupil_id": pupil_id}
        try:
            answers = office.read_answers(letter, typed)
            await office.record_letter_answer(
                letter,
                pupil_id=pupil_id,
                answers=answers,
                signed_name=str(form.get("signed_name", "")).strip()[:200],
                staff_id=actor.id,
                now=now(),
                signer_id=_int(form.get("signer_id")),
            )
        except office.AnswerError as exc:
            return await paper_page(request, status=400, answer_error=exc, **values)
        except office.AlreadyAnswered:
            return await paper_page(request, status=409, already=True, **values)
        except PaperError:
            return await paper_page(request, status=400, refused=True, **values)
        return RedirectResponse(f"/staff/paper?code={letter.code}&recorded={pupil_id}", status_code=303)

    # ------------------------------------------------------------------------------------------ onboarding

    async def onboarding_page(request: Request, actor: Actor, *, status: int = 200, **values: Any) -> Response:
        return await web.render(
            request,
            "office/onboarding.html",
            status=status,
            overview=await onboarding.overview(actor.school_id),
            **values,
        )

    @staff_only(web, *OFFICE_ROLES)
    async def onboarding_list(request: Request, actor: Actor) -> Response:
        return await onboarding_page(request, actor)

    @staff_only(web, *OFFICE_ROLES)
    async def welcome_letters(request: Request, actor: Actor) -> Response:
        form = await web.form(request)
        group_id = _chosen_id(form.get("group_id"))
        group = None
        if group_id is not None:
            group = await Group.filter(id=group_id, school_id=actor.school_id).first()
            if group is None:
                raise HTTPException(404, "not found")
        guardian_ids = await onboarding.waiting_guardian_ids(actor.school_id, group_id)
        pdf, count = await onboarding.print_welcome_letters(
            guardian_ids,
            school_id=actor.school_id,
            charter=web.charter,
            staff_id=actor.id,
            now=now(),
            base_url=web.settings.base_url,
            group_id=group_id,
        )
        if not count:
            return await onboarding_page(request, actor, nobody=True)
        return _pdf(pdf, f"bienvenue-{group.code if group else 'tous'}.pdf")

    # -------------------------------------------------------------------------------------------- settings

    async def settings_page(request: Request, actor: Actor, *, status: int = 200, **values: Any) -> Response:
        lang = web.language(request, actor)
        return await web.render(
            request,
            "office/settings.html",
            status=status,
            school=await School.get(id=actor.school_id),
            dpo=await settings_admin.school_dpo(actor.school_id),
            members=await settings_admin.staff_list(actor.school_id),
            may_edit=actor.has_role(StaffRole.ADMIN),
            roles=list(StaffRole),
            languages={str(code): LANGUAGE_NAMES[str(code)] for code in settings_admin.SCHOOL_LANGUAGES},
            charter=web.charter,
            charter_summary=onboarding.charter_sentences(web.charter, lang),
            min_password=MIN_PASSWORD_LENGTH,
            done=request.query_params.get("done", ""),
            **values,
        )

    @staff_only(web, *SETTINGS_ROLES)
    async def settings(request: Request, actor: Actor) -> Response:
        return await settings_page(request, actor)

    async def _admin(request: Request, actor: Actor) -> tuple[Any, Staff]:
        """The checked form of an administrator's change (a principal gets 403), and the administrator."""
        form = await web.form(request)
        if not actor.has_role(StaffRole.ADMIN):
            raise HTTPException(403, "only an administrator changes the school's settings")
        return form, await Staff.get(id=actor.id)

    def _done(what: str, anchor: str) -> Response:
        return RedirectResponse(f"/staff/settings?done={what}#{anchor}", status_code=303)

    @staff_only(web, *SETTINGS_ROLES)
    async def save_school(request: Request, actor: Actor) -> Response:
        form, admin = await _admin(request, actor)
        keys = ("name", "address", "timezone", "default_language", "school_year", "dpo")
        fields = settings_admin.SchoolFields(**{key: str(form.get(key, "")) for key in keys})
        try:
            await settings_admin.update_school(actor.school_id, fields, by=admin.id, at=now())
        except settings_admin.SettingsError as exc:
            return await settings_page(request, actor, status=400, error=exc, typed=fields)
        return _done("school", "school")

    @staff_only(web, *SETTINGS_ROLES)
    async def change_role(request: Request, actor: Actor) -> Response:
        form, admin = await _admin(request, actor)
        granted = str(form.get("action", "")) == "grant"
        try:
            await settings_admin.set_role(
                actor.school_id,
                request.path_params["staff_id"],
                str(form.get("role", "")),
                granted=granted,
                by=admin,
                at=now(),
            )
        except settings_admin.SettingsError as exc:
            return await settings_page(request, actor, status=400 if exc.problem != "not_found" else 404, error=exc)
        return _done("granted" if granted else "revoked", "staff")

    @staff_only(web, *SETTINGS_ROLES)
    async def change_active(request: Request, actor: Actor) -> Response:
        form, admin = await _admin(request, actor)
        active = str(form.get("active", "")) == "1"
        try:
            await settings_admin.set_active(
                actor.school_id, request.path_params["staff_id"], active=active, by=admin, at=now()
            )
        except settings_admin.SettingsError as exc:
            return await settings_page(request, actor, status=400 if exc.problem != "not_found" else 404, error=exc)
        return _done("activated" if active else "deactivated", "staff")

    @staff_only(web, *SETTINGS_ROLES)
    async def new_member(request: Request, actor: Actor) -> Response:
        form, admin = await _admin(request, actor)
        new = settings_admin.NewMember(
            first_name=str(form.get("first_name", "")),
            last_name=str(form.get("last_name", "")),
            email=str(form.get("email", "")),
            language=str(form.get("language", "")),
            roles=tuple(str(r) for r in form.getlist("roles")),
            password=str(form.get("password", "")),
        )
        try:
            await settings_admin.create_member(actor.school_id, new, by=admin, at=now())
        except settings_admin.SettingsError as exc:
            return await settings_page(request, actor, status=400, error=exc, new=new)
        return _done("created", "staff")

    return [
        Route("/staff/print", print_queue, methods=["GET", "POST"]),
        Route("/staff/print/batches/{batch_id:int}.pdf", batch_pdf),
        Route("/staff/paper", paper_form),
        Route("/staff/paper", paper_answer, methods=["POST"]),
        Route("/staff/onboarding", onboarding_list),
        Route("/staff/onboarding/letters", welcome_letters, methods=["POST"]),
        Route("/staff/settings", settings),
        Route("/staff/settings/school", save_school, methods=["POST"]),
        Route("/staff/settings/staff", new_member, methods=["POST"]),
        Route("/staff/settings/staff/{staff_id:int}/roles", change_role, methods=["POST"]),
        Route("/staff/settings/staff/{staff_id:int}/active", change_active, methods=["POST"]),
    ]
