"""The review routes: sample a job's accepted data for manual rating, collect ratings, summarise, export.

    POST /jobs/{id}/reviews          {"size", "seed", "template"} -> 201 {"id", "criteria", "items", ...}
    GET  /jobs/{id}/reviews          {"reviews": [...]}: the job's reviews, without their items
    GET  /reviews/{rid}              the review, as POST answered it
    POST /reviews/{rid}/ratings      {"rater", "item", "answers", "note"?} -> 201 new, 200 replaced
    GET  /reviews/{rid}/ratings      {"ratings": [...]}; ?rater=NAME for one rater's
    GET  /reviews/{rid}/summary      pass rates with 95% intervals, all-valid share, Cohen's and Fleiss' kappa
    GET  /reviews/{rid}/ratings.csv  one row per rating;  GET /reviews/{rid}/ratings.jsonl  the same as JSONL
    GET  /reviews                    HTML: pick or create a review;  GET /reviews/{rid}/rate  HTML: rate items

They sit behind the same middlewares as every other route (Host, Origin, JSON
writes, body size, bearer token). Validation errors are 400 ``{"error"}``
naming the field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from selfinstruct.errors import SelfInstructError
from selfinstruct.review.page import SCRIPT, list_page, rate_page
from selfinstruct.review.sampling import run_items, sample_items
from selfinstruct.review.stats import Rating, summarize
from selfinstruct.review.table import ratings_csv, ratings_jsonl
from selfinstruct.review.templates import BUILTIN, AnswerError, Criterion, Template, check_answers
from selfinstruct.service.dashboard.layout import page, respond
from selfinstruct.service.dashboard.state import MANAGER
from selfinstruct.service.store import ReviewRecord, ReviewStore

__all__ = ["add_review_routes", "MAX_SIZE"]

MAX_SIZE = 10_000
MAX_SEED = 2**63 - 1
MAX_NAME = 100
MAX_NOTE = 4000

_REVIEWS = web.AppKey("reviews", ReviewStore)
_TEMPLATES = web.AppKey("review_templates", dict)


def _json(data: Any, status: int = 200, **kwargs: Any) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", **kwargs)


def _bad(field: str, message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=orjson.dumps({"error": f"{field}: {message}", "field": field}).decode(),
                              content_type="application/json")


def _not_found(message: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(text=orjson.dumps({"error": message}).decode(), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise _bad("body", f"not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _bad("body", "must be a JSON object")
    return body


def _whole(body: Mapping[str, Any], key: str, lo: int, hi: int, default: int | None = None) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _bad(key, f"must be a whole number from {lo} to {hi}, got {value!r}")
    return value


def _review(request: web.Request) -> ReviewRecord:
    rid = request.match_info["rid"]
    rec = request.app[_REVIEWS].get(rid)
    if rec is None:
        raise _not_found(f"no review {rid!r}")
    return rec


def _criteria(rec: ReviewRecord) -> tuple[Criterion, ...]:
    return tuple(Criterion(**c) for c in rec.criteria)


def _ratings(store: ReviewStore, rec: ReviewRecord) -> list[Rating]:
    return [Rating(rater=r["rater"], item=r["item"], answers=r["answers"], note=r["note"])
            for r in store.ratings(rec.id)]


async def create_review(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    job = manager.get(request.match_info["id"])  # UnknownJob -> 404
    body = await _body(request)
    unknown = set(body) - {"size", "seed", "template"}
    if unknown:
        raise _bad(sorted(unknown)[0], "unknown key (known: size, seed, template)")
    size = _whole(body, "size", 1, MAX_SIZE)
    seed = _whole(body, "seed", 0, MAX_SEED, default=0)
    templates = request.app[_TEMPLATES]
    name = body.get("template", "paper")
    if not isinstance(name, str) or name not in templates:
        raise _bad("template", f"must be one of {', '.join(sorted(templates))}, got {name!r}")
    template: Template = templates[name]
    try:
        items = await asyncio.to_thread(run_items, manager.jobs_dir / job.id)
    except SelfInstructError as exc:
        return _json({"error": f"cannot read the job's accepted data: {exc}"}, status=409)
    if not items:
        return _json({"error": f"job {job.id} has no accepted items yet"}, status=409)
    picked = sample_items(items, size, seed)
    rec = request.app[_REVIEWS].add(job=job.id, template=template.name, size=size, seed=seed,
                                    criteria=[c.as_dict() for c in template.criteria],
                                    items=[i.as_dict() for i in picked])
    return _json(rec.view(), status=201, headers={"Location": f"/reviews/{rec.id}"})


async def job_reviews(request: web.Request) -> web.Response:
    job = request.app[MANAGER].get(request.match_info["id"])
    store = request.app[_REVIEWS]
    return _json({"reviews": [_listing(store, rec) for rec in store.all(job=job.id)]})


def _listing(store: ReviewStore, rec: ReviewRecord) -> dict[str, Any]:
    view = rec.view()
    del view["items"]
    return {**view, "n_items": len(rec.items), "n_ratings": store.count(rec.id)}


async def get_review(request: web.Request) -> web.Response:
    return _json(_review(request).view())


def _rater(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise _bad("rater", f"must be a non-empty name of at most {MAX_NAME} characters")
    name = value.strip()
    if "|" in name or any(ord(ch) < 32 for ch in name):
        raise _bad("rater", "must not contain '|' (it joins rater pairs) or control characters")
    return name


async def add_rating(request: web.Request) -> web.Response:
    rec = _review(request)
    body = await _body(request)
    unknown = set(body) - {"rater", "item", "answers", "note"}
    if unknown:
        raise _bad(sorted(unknown)[0], "unknown key (known: rater, item, answers, note)")
    rater = _rater(body.get("rater"))
    item = body.get("item")
    if not isinstance(item, str) or item not in {i["id"] for i in rec.items}:
        raise _bad("item", f"must be the id of an item of review {rec.id}, got {item!r}")
    try:
        answers = check_answers(_criteria(rec), body.get("answers"))
    except AnswerError as exc:
        raise _bad(exc.field, str(exc).split(": ", 1)[1]) from None
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise _bad("note", f"must be a string of at most {MAX_NOTE} characters")
    store = request.app[_REVIEWS]
    replaced = any(r["item"] == item for r in store.ratings(rec.id, rater=rater))
    store.rate(rec.id, rater=rater, item=item, answers=answers, note=note)
    return _json({"review": rec.id, "rater": rater, "item": item, "answers": answers, "note": note,
                  "replaced": replaced}, status=200 if replaced else 201)


async def list_ratings(request: web.Request) -> web.Response:
    rec = _review(request)
    rater = request.query.get("rater")
    return _json({"ratings": request.app[_REVIEWS].ratings(rec.id, rater=rater.strip() if rater else None)})


async def review_summary(request: web.Request) -> web.Response:
    rec = _review(request)
    summary = summarize(_criteria(rec), _ratings(request.app[_REVIEWS], rec))
    return _json({"review": rec.id, "template": rec.template, **summary})


async def export_csv(request: web.Request) -> web.Response:
    rec = _review(request)
    text = ratings_csv(rec.id, _criteria(rec), request.app[_REVIEWS].ratings(rec.id),
                       {i["id"]: i for i in rec.items})
    return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="review-{rec.id}-ratings.csv"'})


async def export_jsonl(request: web.Request) -> web.Response:
    rec = _review(request)
    return web.Response(body=ratings_jsonl(rec.id, request.app[_REVIEWS].ratings(rec.id)),
                        content_type="application/x-ndjson", headers={
                            "Content-Disposition": f'attachment; filename="review-{rec.id}-ratings.jsonl"'})


def _page(title: str, body: str) -> web.Response:
    """A review page in the dashboard's shell; its CSP allows this origin only and exactly the review script."""
    return respond(page(title, body, script=SCRIPT, nav="/reviews"))


async def reviews_page(request: web.Request) -> web.Response:
    manager, store = request.app[MANAGER], request.app[_REVIEWS]
    jobs = [(rec.id, rec.state, rec.spec.get("model", "")) for rec in manager.store.all()]
    reviews = [_listing(store, rec) for rec in store.all()]
    return _page("Reviews", list_page(jobs, reviews, sorted(request.app[_TEMPLATES])))


async def rate_page_handler(request: web.Request) -> web.Response:
    rec = _review(request)
    return _page(f"Review {rec.id}", rate_page(rec.id, rec.job, rec.template))


def add_review_routes(app: web.Application, templates: Mapping[str, Template] | None = None) -> None:
    """Register the review routes on the service app (its job manager under ``MANAGER`` already set);
    ``templates`` are the config's custom ones."""
    app[_REVIEWS] = ReviewStore(app[MANAGER].store)
    app[_TEMPLATES] = {**BUILTIN, **(templates or {})}
    app.router.add_post("/jobs/{id}/reviews", create_review)
    app.router.add_get("/jobs/{id}/reviews", job_reviews)
    app.router.add_get("/reviews", reviews_page)
    app.router.add_get("/reviews/{rid}", get_review)
    app.router.add_post("/reviews/{rid}/ratings", add_rating)
    app.router.add_get("/reviews/{rid}/ratings", list_ratings)
    app.router.add_get("/reviews/{rid}/summary", review_summary)
    app.router.add_get("/reviews/{rid}/ratings.csv", export_csv)
    app.router.add_get("/reviews/{rid}/ratings.jsonl", export_jsonl)
    app.router.add_get("/reviews/{rid}/rate", rate_page_handler)
