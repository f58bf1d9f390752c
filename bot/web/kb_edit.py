"""/kb and its API: supervisors and admins keep the knowledge base in the browser. Every change is
tried first (every `kb lint` check, the compliance rules, the held-out figures of the proposed base
next to the current ones), written back to the files atomically, recorded, and can be undone.
Learning from unanswered buyer messages: GET /api/kb/learn and its accept action (admin)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path

from aiohttp import web

from bot.clock import shop_zone
from bot.config import config_dir, resolve_path
from bot.matching import editor, impact, kb_files, learn
from bot.matching.editor import Proposal, ProposalError
from bot.matching.kb import KnowledgeBaseError
from bot.privacy import mask, mask_strings
from bot.store import feedback, kb_changes, learning
from bot.store.tables import KbChange
from bot.web import keys, params
from bot.web.auth import Caller, caller
from bot.web.errors import ApiError
from bot.web.kb_api import json_body
from bot.web.pages import STATIC
from bot.web.params import is_row_id, paging, path_id

log = logging.getLogger(__name__)
EDITOR_ROLE = "supervisor"
LEARN_ROLE = "admin"  # ../shared/spec/http-api.md: GET /api/kb/learn is admin


class KbEditor:
    """What the /kb API keeps between requests: one change at a time, the held-out sets, and the
    figures of the bases measured so far (by content)."""

    def __init__(self, folder: Path, *, heldout: list[str], base: Path | None, margin: float) -> None:
        self.folder = folder
        self.patterns, self.base, self.margin = heldout, base, margin
        self.lock = asyncio.Lock()
        self._sets: list[impact.HeldOut] | None = None
        self._figures: dict[int, dict] = {}

    @classmethod
    def from_config(cls, config) -> KbEditor:
        return cls(resolve_path(config, config.knowledge.path), heldout=list(config.knowledge.heldout),
                   base=config_dir(config), margin=config.knowledge.impact_margin)

    async def sets(self) -> list[impact.HeldOut]:
        if self._sets is None:
            self._sets = await asyncio.to_thread(impact.load_sets, self.patterns, base=self.base)
        return self._sets

    async def figures(self, engine) -> dict:
        """The held-out figures of the engine in service (measured in a thread, once per content)."""
        key = editor.signature(engine.kb)
        if key not in self._figures:
            sets = await self.sets()
            self._figures[key] = await asyncio.to_thread(impact.measure, engine.matcher, sets)
        return self._figures[key]

    def remember(self, key: int, figures: dict) -> None:
        self._figures[key] = figures


def _editor(request: web.Request) -> KbEditor:
    return request.app[keys.KB_EDITOR]


def _who(who: Caller) -> str:
    return who.agent or who.role


async def kb_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "kb.html", headers={"Cache-Control": "no-cache"})


async def base(request: web.Request) -> web.Response:
    """GET /api/kb/base: every intent and off-topic subject as the files hold them, and each file's version."""
    caller(request, role=EDITOR_ROLE)
    ed = _editor(request)
    texts = await asyncio.to_thread(editor.snapshot, ed.folder)
    kb, problems = await asyncio.to_thread(_load, ed.folder)
    def rel(path: str) -> str:
        try:
            return str(Path(path).relative_to(ed.folder))
        except ValueError:
            return path
    intents = [{"id": i.id, "title": i.title, "questions": list(i.questions), "keywords": list(i.keywords),
                "replies": [{"platform": r.platform, "text": r.text} for r in i.replies], "template": i.template,
                "auto_reply": i.auto_reply, "file": rel(i.file)} for i in kb.intents]
    topics = [{"id": t.id, "title": t.title, "questions": list(t.questions), "file": rel(t.file)} for t in kb.off_topic]
    return web.json_response({
        "intents": intents, "topics": topics, "versions": {r: kb_files.version(t) for r, t in texts.items()},
        "margin": ed.margin, "problems": [str(p) for p in problems if p.severity == "error"],
        "role": caller(request).role,
    })


def _load(folder: Path):
    from bot.matching.kb import load
    return load(folder)


async def current_impact(request: web.Request) -> web.Response:
    """GET /api/kb/impact: the held-out figures of the base in service."""
    caller(request, role=EDITOR_ROLE)
    ed = _editor(request)
    figures = await ed.figures(request.app[keys.ENGINES].engine)
    return web.json_response({**figures, "margin": ed.margin})


def _check_common(body: dict) -> None:
    """confirm, dry_run and versions, which every write takes: 400 unless as the document says."""
    for key in ("confirm", "dry_run"):
        if key in body and not isinstance(body[key], bool):
            raise ApiError(400, "bad_request", f"{key} must be true or false")
    versions = body.get("versions", {})
    if not (isinstance(versions, dict) and all(isinstance(v, str) for v in versions.values())):
        raise ApiError(400, "bad_request", "versions must be an object: file -> version")


async def _apply(request: web.Request, who: Caller, build: Callable[[dict], Proposal], body: dict, *,
                 need_versions: bool = True, undo_of: int | None = None) -> web.Response:
    """The one path of every change: versions → proposal → trial → confirm → write → record → reload."""
    ed = _editor(request)
    _check_common(body)
    confirm, dry_run = body.get("confirm") is True, body.get("dry_run") is True
    versions = body.get("versions")
    if need_versions and versions is None:  # even for a new file: the document says every edit sends them
        raise ApiError(400, "bad_request", "send versions: the version of each file as you loaded it")
    async with ed.lock:
        texts = await asyncio.to_thread(editor.snapshot, ed.folder)
        try:
            proposal = await asyncio.to_thread(build, texts)  # tomlkit takes ~0.1 s on a big file
        except ProposalError as e:
            status = 404 if e.field in ("id",) and "no intent" in str(e) else 422
            return web.json_response({"error": "not_found" if status == 404 else "invalid", "message": str(e),
                                      "problems": [{"field": e.field, "message": str(e), "severity": "error"}]},
                                     status=status)
        except kb_files.EditError as e:
            raise ApiError(422, "invalid", str(e)) from None
        if need_versions or versions is not None:
            stale = [rel for rel, before in proposal.before.items() if before is not None and
                     (versions or {}).get(rel) != kb_files.version(texts[rel])]
            if stale:
                return await _conflict(request, proposal, texts, stale, missing=versions is None)
        if all(proposal.texts[r] == (proposal.before[r] or "") for r in proposal.texts):
            return web.json_response({"error": "no_change", "message": "nothing would change"}, status=422)
        sets = await ed.sets()
        tried = await asyncio.to_thread(editor.trial, ed.folder, proposal, sets)
        if tried.problems:
            return web.json_response({
                "error": "invalid", "message": "the change breaks the knowledge base's rules; nothing was written",
                "problems": [p.as_dict() for p in tried.problems]}, status=422)
        before = await ed.figures(request.app[keys.ENGINES].engine)
        compared = impact.compare(before, tried.figures, margin=ed.margin)
        if dry_run:
            return web.json_response({"impact": compared, "summary": proposal.summary, "applied": False})
        if compared["needs_confirm"] and not confirm:
            return web.json_response({
                "error": "confirm_needed", "impact": compared, "summary": proposal.summary,
                "message": "this change lowers " + ", ".join(
                    f"{d['figure']} on {d['set']} from {d['before']:.3f} to {d['after']:.3f}" for d in compared["drops"])
                + f" (more than the margin {ed.margin}); send it again with confirm to apply it"}, status=409)
        try:
            await asyncio.to_thread(kb_files.write_files, ed.folder, dict(proposal.texts))
        except kb_files.WriteError as e:
            log.error("knowledge files not written: %s", e)
            raise ApiError(503, "cannot_write", str(e)) from None
        ed.remember(tried.signature, tried.figures)
        files = [{"path": rel, "before": proposal.before[rel], "after": proposal.texts[rel]} for rel in proposal.texts]
        async with request.app[keys.DB]() as session, session.begin():
            change = await kb_changes.record(session, KbChange(
                at=request.app[keys.CLOCK].now(), who=_who(who), action=proposal.action, summary=proposal.summary,
                target=proposal.target, files=json.dumps(files, ensure_ascii=False),
                impact=json.dumps(compared, ensure_ascii=False), confirmed=compared["needs_confirm"] and confirm,
                undo_of=undo_of))
            if undo_of is not None:
                await kb_changes.mark_undone(session, undo_of, by=change.id)
            public = kb_changes.public(change)
        reloaded = True
        try:
            await request.app[keys.RELOAD_KNOWLEDGE]()
        except Exception as e:  # the files are written; the watcher or an admin's reload will report it
            log.error("knowledge written but not reloaded: %s", e)
            reloaded = False
        new_versions = {rel: kb_files.version(t) for rel, t in proposal.texts.items()}
        return web.json_response({"applied": True, "change": public, "impact": compared, "versions": new_versions,
                                  "reloaded": reloaded})


async def _conflict(request: web.Request, proposal: Proposal, texts: dict, stale: list[str], *,
                    missing: bool) -> web.Response:
    if missing:
        raise ApiError(400, "bad_request", "send versions: the version of each file as you loaded it")
    current = None
    if proposal.target:
        found = await asyncio.to_thread(editor.locate, texts, proposal.target)
        if found:
            current = await asyncio.to_thread(kb_files.table_of, texts[found[0]], proposal.target, key=found[1])
    async with request.app[keys.DB]() as session:
        changes, _ = await kb_changes.latest(session, limit=1, target=proposal.target or None)
    return web.json_response({
        "error": "conflict", "files": stale, "current": current,
        "change": kb_changes.public(changes[0]) if changes else None,
        "versions": {rel: kb_files.version(texts[rel]) for rel in stale},
        "message": f"{', '.join(stale)} changed since you loaded it (someone else saved, or the file was edited); "
                   "reload to see their change, then make yours again"}, status=409)


async def edit_table(request: web.Request) -> web.Response:
    """PUT /api/kb/intents/{id} (and /api/kb/topics/{id}): {title, questions, replies, versions, confirm, dry_run}."""
    who = caller(request, role=EDITOR_ROLE)
    body = await json_body(request)
    table_id = request.match_info["id"]
    return await _apply(request, who, lambda texts: editor.edit_table(texts, table_id, body), body)


async def add_intent(request: web.Request) -> web.Response:
    """POST /api/kb/intents: {id, title, questions, replies, versions}."""
    who = caller(request, role=EDITOR_ROLE)
    body = await json_body(request)
    return await _apply(request, who, lambda texts: editor.add_table(texts, body.get("id"), body), body)


async def add_topic(request: web.Request) -> web.Response:
    who = caller(request, role=EDITOR_ROLE)
    body = await json_body(request)
    return await _apply(request, who, lambda texts: editor.add_table(texts, body.get("id"), body, topic=True), body)


async def retire(request: web.Request) -> web.Response:
    """POST /api/kb/intents/{id}/retire: the intent leaves its file (undo brings it back)."""
    who = caller(request, role=EDITOR_ROLE)
    body = await json_body(request)
    table_id = request.match_info["id"]
    return await _apply(request, who, lambda texts: editor.retire(texts, table_id), body)


async def move_question(request: web.Request) -> web.Response:
    """POST /api/kb/questions/move: {question, from, to, versions}."""
    who = caller(request, role=EDITOR_ROLE)
    body = await json_body(request)
    return await _apply(request, who, lambda texts: editor.move_question(
        texts, body.get("question"), body.get("from"), body.get("to")), body)


async def save_reply(request: web.Request) -> web.Response:
    """POST /api/kb/intents/{id}/reply: {text, platform}: an agent's wording becomes the intent's reply."""
    who = caller(request, role=EDITOR_ROLE)
    body = await json_body(request)
    platform = body.get("platform") or None
    if platform not in (None, "wangwang", "dongdong"):
        raise ApiError(400, "bad_request", "platform must be wangwang, dongdong or empty")
    table_id = request.match_info["id"]
    return await _apply(request, who, lambda texts: editor.set_reply(texts, table_id, body.get("text"),
                                                                      platform=platform), body)


async def changes(request: web.Request) -> web.Response:
    """GET /api/kb/changes: the history, newest first."""
    caller(request, role=EDITOR_ROLE)
    limit, offset = paging(request)
    async with request.app[keys.DB]() as session:
        rows, total = await kb_changes.latest(session, limit=limit, offset=offset,
                                              target=request.query.get("target") or None)
    return web.json_response({"items": [kb_changes.public(c) for c in rows], "total": total})


async def undo(request: web.Request) -> web.Response:
    """POST /api/kb/changes/{id}/undo: the files back as they were before that change (a change itself)."""
    who = caller(request, role=EDITOR_ROLE)
    body = await json_body(request)
    change_id = path_id(request)
    async with request.app[keys.DB]() as session:
        change = await kb_changes.get(session, change_id)
    if change is None:
        raise ApiError(404, "not_found", "no such change")
    if change.undone_by is not None:
        raise ApiError(409, "already_undone", f"change {change_id} was undone by change {change.undone_by}")
    files = json.loads(change.files)

    def build(texts: dict) -> Proposal:
        restored = editor.restore(texts, files, f"undo change {change_id}: {change.summary}")
        return Proposal(**{**restored.__dict__, "target": change.target})

    try:
        return await _apply(request, who, build, body, need_versions=False, undo_of=change_id)
    except ApiError:
        raise


async def stats(request: web.Request) -> web.Response:
    """GET /api/kb/stats: per intent, how often agents used, edited or ignored it, with what they wrote."""
    caller(request, role=EDITOR_ROLE)
    async with request.app[keys.DB]() as session:
        uses = await feedback.by_intent(session, examples=5)
    titles = {i.id: i.title for i in request.app[keys.ENGINES].engine.kb.intents}
    items = [{"intent": u.intent, "title": titles.get(u.intent, u.intent), "shown": u.shown, "used": u.used,
              "edited": u.edited, "ignored": u.ignored, "rewritten_share": round(u.rewritten_share, 3),
              "examples": u.examples} for u in uses]
    # What agents wrote may quote a buyer's phone or address: masked, as for every supervisor.
    return web.json_response(mask_strings({"items": items, "total": len(items)}))


def _period(request: web.Request) -> tuple[datetime, datetime, date, date]:
    zone = shop_zone(request.app[keys.CONFIG].shop.timezone)
    today = request.app[keys.CLOCK].now().astimezone(zone).date()
    first, last = params.period(request, today=today, default_days=7)
    return (datetime.combine(first, time.min, tzinfo=zone), datetime.combine(last + timedelta(days=1), time.min,
                                                                             tzinfo=zone), first, last)


async def learn_groups(request: web.Request) -> web.Response:
    """GET /api/kb/learn?from=&to=: groups of buyer messages that got no confident suggestion."""
    caller(request, role=LEARN_ROLE)
    start, end, first, last = _period(request)
    limit, offset = paging(request)
    async with request.app[keys.DB]() as session:
        rows = await learning.unanswered(session, start=start, end=end)
    engine = request.app[keys.ENGINES].engine
    messages = [learn.Unanswered(mid, text, at, reply) for mid, text, at, reply in rows]
    groups = await asyncio.to_thread(learn.group, messages, engine.matcher)
    titles = {i.id: i.title for i in (*engine.kb.intents, *engine.kb.off_topic)}
    items = [g.as_dict(titles=titles) for g in groups]
    # Buyers' messages, for curating the knowledge base: phone numbers, ID numbers and addresses masked.
    return web.json_response({"from": first.isoformat(), "to": last.isoformat(),
                              "items": mask_strings(items[offset:offset + limit]), "total": len(items)})


async def learn_accept(request: web.Request) -> web.Response:
    """POST /api/kb/learn/accept: {message_ids, action: intent | new_intent | off_topic, intent, ...}.
    Messages since deleted (retention) are left out and named in `gone`; all gone is not an error."""
    who = caller(request, role=LEARN_ROLE)
    body = await json_body(request)
    ids = body.get("message_ids")
    if not isinstance(ids, list) or not ids or not all(is_row_id(i) for i in ids):  # a 40-digit id was a 500
        raise ApiError(400, "bad_request", "message_ids must be a non-empty list of message ids")
    action = body.get("action")
    if action not in ("intent", "new_intent", "off_topic"):
        raise ApiError(400, "bad_request", "action must be intent, new_intent or off_topic")
    for key in ("intent", "id", "title", "reply"):  # checked before the messages: a dict was taken when all were gone
        if body.get(key) is not None and not isinstance(body[key], str):
            raise ApiError(400, "bad_request", f"{key} must be a string")
    _check_common(body)
    if "new_topic" in body and not isinstance(body["new_topic"], bool):
        raise ApiError(400, "bad_request", "new_topic must be true or false")
    extra = [] if body.get("questions") is None else body["questions"]
    if not isinstance(extra, list) or not all(isinstance(q, str) for q in extra):
        raise ApiError(400, "bad_request", "questions must be a list of strings")
    async with request.app[keys.DB]() as session:
        found = await learning.existing(session, ids)
    gone = sorted(set(ids) - set(found))
    if not found:
        return web.json_response({"applied": False, "gone": gone,
                                  "message": "these messages are gone (deleted by retention); nothing to learn"})
    # Masked before they are written into the knowledge base's files (and the change history): a question
    # learned keeps its shape, not a buyer's phone number or address.
    questions = list(dict.fromkeys(mask(found[i].strip()) for i in ids if i in found and found[i].strip()))
    if action == "new_intent":
        extra = [mask(q) for q in extra]
        reply = body.get("reply")
        replies = [{"text": reply}] if isinstance(reply, str) and reply.strip() else []
        fields = {"title": body.get("title", ""), "questions": questions + extra, "replies": replies}
        build = lambda texts: editor.add_table(texts, body.get("id"), fields)  # noqa: E731
    elif action == "off_topic" and body.get("new_topic") is True:
        fields = {"title": body.get("title", ""), "questions": questions}
        build = lambda texts: editor.add_table(texts, body.get("intent"), fields, topic=True)  # noqa: E731
    else:
        build = lambda texts: editor.add_questions(  # noqa: E731
            texts, body.get("intent"), questions, action="learn",
            summary=f"learned {len(questions)} question(s) into {body.get('intent')}")
    response = await _apply(request, who, build, body, need_versions=False)
    if response.status == 200:
        payload = json.loads(response.body)
        payload["gone"] = gone
        return web.json_response(payload)
    return response
