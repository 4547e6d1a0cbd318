"""The category lists for administrators: every list in the table (lists other areas add appear by themselves),
its entries with labels in fi, sv and en; add, rename, reorder, retire and reactivate.

Codes are made by the domain (fieldapp/categories.py) and never given out twice; nothing is deleted. Every change
is written to the audit log there. Devices pick the change up on their next sync (the lists' change count).
"""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from fieldapp import categories, web
from fieldapp.errors import ValidationFailed
from fieldapp.i18n import gettext as _, lazy

# What the lists are called on screen; a list another area adds and this does not name shows its own name.
LIST_NAMES = {
    "age_band": lazy("Age bands"), "basis": lazy("Basis of an observation"),
    "deployment_kind": lazy("Deployment kinds"), "group_category": lazy("Communities and groups"),
    "group_size": lazy("Group sizes"), "intervention_kind": lazy("Intervention kinds"),
    "language": lazy("Languages"), "motive": lazy("Perceived motives of acts of hatred"),
    "outcome": lazy("Intervention outcomes"), "referral_target": lazy("Referral targets"),
    "severity": lazy("Severity levels"), "tension_kind": lazy("Tension kinds"), "topic": lazy("Contact topics"),
    "trend": lazy("Trends"), "activity_kind": lazy("Activity kinds"), "partner_kind": lazy("Partner kinds"),
    "partner_kinds": lazy("Partner kinds"),
}
DONE = {
    "added": lazy("The entry was added."),
    "renamed": lazy("The labels were changed."),
    "moved": lazy("The order was changed."),
    "retired": lazy("The entry was retired: it is no longer offered in forms, old records keep it."),
    "reactivated": lazy("The entry is offered in forms again."),
}
ACTIONS = {"category_add": lazy("Added"), "category_rename": lazy("Labels changed"), "category_move": lazy("Moved"),
           "category_retire": lazy("Retired"), "category_reactivate": lazy("Reactivated")}
LIST_PAGE, LIST_PARTIAL = "pages/admin/category_list.html", "partials/admin/_category_list.html"


def list_title(name: str) -> str:
    text = LIST_NAMES.get(name)
    return _(text) if text is not None else name.replace("_", " ").capitalize()


def _typed(raw: dict) -> dict[str, str]:
    """The labels as typed, to show again with the errors."""
    return {f"label_{locale}": (raw.get(f"label_{locale}") if isinstance(raw.get(f"label_{locale}"), str) else "")[:200]
            for locale in categories.LANGUAGES}


def _list_context(db, list_name: str, *, done=None, errors=None, new=None, editing=None, typed=None) -> dict:
    """editing: the code whose label form failed (shown open with `typed`); new: the add form's typed labels."""
    return {
        "list_name": list_name, "title": list_title(list_name), "entries": categories.entries(db, list_name),
        "labels_only": list_name in categories.LABELS_ONLY, "kept_active": categories.KEPT_ACTIVE,
        "done": _(DONE[done]) if isinstance(done, str) and done in DONE else None,
        "errors": errors or {}, "new": new or {"label_fi": "", "label_sv": "", "label_en": ""},
        "editing": editing, "actions": {key: _(text) for key, text in ACTIONS.items()}, "typed": typed or {}, "changes": categories.changes(db, list_name),
    }


def _after(request: Request, db, list_name: str, done: str, code: str | None = None) -> Response | Template:
    """htmx: the list with the message; a plain form: POST-redirect-GET to the list (at the entry)."""
    if web.is_htmx(request):
        return Template(LIST_PARTIAL, context=_list_context(db, list_name, done=done))
    anchor = f"#entry-{code}" if code else ""
    return Redirect(f"/admin/categories/{list_name}?done={done}{anchor}", status_code=303)


def _refused(request: Request, db, list_name: str, errors: dict, **kept) -> Template:
    return web.render(request, LIST_PAGE, LIST_PARTIAL, _list_context(db, list_name, errors=errors, **kept), status=400)


class CategoriesController(Controller):
    """Category lists, for administrators only."""

    path = "/admin/categories"
    guards = [web.roles("admin")]
    dependencies = web.DEPENDENCIES

    @get("/", name="admin_categories")
    async def lists(self, request: Request, db: web.DB) -> Template:
        lists = [{**row, "title": list_title(row["name"])} for row in categories.list_names(db)]
        lists.sort(key=lambda row: row["title"].casefold())
        return web.render(request, "pages/admin/categories.html", "partials/admin/_categories.html", {"lists": lists})

    @get("/{list_name:str}")
    async def one_list(self, request: Request, db: web.DB, list_name: FromPath[str],
                       done: FromQuery[str | None] = None) -> Template:
        return web.render(request, LIST_PAGE, LIST_PARTIAL, _list_context(db, list_name, done=done))

    @post("/{list_name:str}")
    async def add(self, request: Request, db: web.DB, user: web.CurrentUser,
                  list_name: FromPath[str]) -> Template | Response:
        categories.entries(db, list_name)  # NotFound for a list that does not exist
        raw = web.form_dict(await request.form())
        try:
            code = categories.add(db, list_name, raw, by=user.id)
        except ValidationFailed as exc:
            return _refused(request, db, list_name, exc.errors, new=_typed(raw))
        return _after(request, db, list_name, "added", code)

    @post("/{list_name:str}/{code:str}/labels")
    async def rename(self, request: Request, db: web.DB, user: web.CurrentUser, list_name: FromPath[str],
                     code: FromPath[str]) -> Template | Response:
        categories.entry(db, list_name, code)
        raw = web.form_dict(await request.form())
        try:
            categories.rename(db, list_name, code, raw, by=user.id)
        except ValidationFailed as exc:
            return _refused(request, db, list_name, exc.errors, editing=code, typed=_typed(raw))
        return _after(request, db, list_name, "renamed", code)

    @post("/{list_name:str}/{code:str}/move")
    async def move(self, request: Request, db: web.DB, user: web.CurrentUser, list_name: FromPath[str],
                   code: FromPath[str]) -> Template | Response:
        categories.entry(db, list_name, code)
        raw = web.form_dict(await request.form())
        try:
            categories.move(db, list_name, code, raw.get("direction") if isinstance(raw.get("direction"), str) else "",
                            by=user.id)
        except ValidationFailed as exc:
            return _refused(request, db, list_name, exc.errors)
        return _after(request, db, list_name, "moved", code)

    @post("/{list_name:str}/{code:str}/retire")
    async def retire(self, request: Request, db: web.DB, user: web.CurrentUser, list_name: FromPath[str],
                     code: FromPath[str]) -> Template | Response:
        try:
            categories.set_active(db, list_name, code, False, by=user.id)
        except ValidationFailed as exc:
            return _refused(request, db, list_name, exc.errors)
        return _after(request, db, list_name, "retired", code)

    @post("/{list_name:str}/{code:str}/reactivate")
    async def reactivate(self, request: Request, db: web.DB, user: web.CurrentUser, list_name: FromPath[str],
                         code: FromPath[str]) -> Template | Response:
        categories.set_active(db, list_name, code, True, by=user.id)
        return _after(request, db, list_name, "reactivated", code)


ROUTES = [CategoriesController]
