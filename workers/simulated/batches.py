"""The simulated Files and Batches API: batches answered by the same synthetic LM as the online routes.

Routes: ``POST /v1/files`` (multipart ``purpose`` + ``file``), ``GET /v1/files/{id}/content``,
``POST /v1/batches``, ``GET /v1/batches`` (``limit``, ``after``), ``GET /v1/batches/{id}``,
``POST /v1/batches/{id}/cancel``.

A batch's life is computed from the clock whenever it is read: it is
``in_progress`` from creation, its items finish evenly over ``batch_seconds``,
and once they all have it is ``completed`` with an output file (answers) and an
error file (the items drawn to fail, ``batch_p_fail`` each). With
``batch_expire_after`` set, the first ``batch_expires`` batches (None: all) that
have not finished by then are ``expired``: the finished items are in the output
and error files, the unfinished ones in the error file with code
``batch_expired``. A cancel stops the batch at once (``cancelled``); its
unfinished items are in neither file. A file whose lines do not validate (a
``url`` other than the batch's endpoint, a repeated custom_id) makes a
``failed`` batch with ``errors``.

``stats()`` counts what was submitted (files, batches, items, and each created
batch's custom_ids in order), so tests can prove that nothing went twice and
that no online completion call was made (the server's own ``requests``).
"""

from __future__ import annotations

import random
import time
from typing import Any

import orjson
from aiohttp import web

from workers.simulated import wire
from workers.simulated.config import SimConfig
from workers.simulated.lm import answer, count_tokens
from workers.simulated.wire import prompt_text

__all__ = ["SimulatedBatches"]

_JSON = "application/json"


def _error(status: int, message: str) -> web.Response:
    body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                   "code": None}})
    return web.Response(status=status, body=body, content_type=_JSON)


class SimulatedBatches:
    """The Files and Batches state of one simulated server."""

    def __init__(self, config: SimConfig):
        self.config = config
        self._auth = f"Bearer {config.api_key}" if config.api_key is not None else None
        self.reset()

    def reset(self) -> None:
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._plans: dict[str, dict[str, Any]] = {}
        self.submitted: list[dict[str, Any]] = []
        self.items = 0
        self._serial = 0
        self._expired = 0

    def register(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{file_id}/content", self._content)
        app.router.add_post("/v1/batches", self._create)
        app.router.add_get("/v1/batches", self._list)
        app.router.add_get("/v1/batches/{batch_id}", self._retrieve)
        app.router.add_post("/v1/batches/{batch_id}/cancel", self._cancel)

    def stats(self) -> dict[str, Any]:
        return {"files": len(self.files), "batches": len(self.batches), "items": self.items,
                "submitted": [dict(s) for s in self.submitted],
                "statuses": {b["id"]: self._advance(b)["status"] for b in self.batches.values()}}

    def _next(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}-sim{self._serial:06d}"

    def _denied(self, request: web.Request) -> web.Response | None:
        if self._auth is not None and request.headers.get("Authorization") != self._auth:
            return _error(401, "Incorrect API key provided.")
        return None

    # -- files ---------------------------------------------------------------------
    async def _upload(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        form = await request.post()
        upload = form.get("file")
        if form.get("purpose") != "batch" or upload is None or not hasattr(upload, "file"):
            return _error(400, "expected multipart fields purpose=batch and file")
        data = upload.file.read()
        file_id = self._next("file")
        self.files[file_id] = data
        return web.Response(body=orjson.dumps({"id": file_id, "object": "file", "bytes": len(data),
                                               "created_at": int(time.time()), "filename": upload.filename,
                                               "purpose": "batch"}), content_type=_JSON)

    async def _content(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        data = self.files.get(request.match_info["file_id"])
        if data is None:
            return _error(404, "No such file")
        return web.Response(body=data, content_type="application/jsonl")

    # -- batches -------------------------------------------------------------------
    async def _create(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        try:
            body = orjson.loads(await request.read())
            file_id, endpoint, window = body["input_file_id"], body["endpoint"], body["completion_window"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _error(400, "expected input_file_id, endpoint and completion_window")
        data = self.files.get(file_id)
        if data is None:
            return _error(404, f"No such file: {file_id}")
        if endpoint not in ("/v1/chat/completions", "/v1/completions"):
            return _error(400, f"unsupported endpoint {endpoint!r}")
        lines = [orjson.loads(line) for line in data.splitlines() if line.strip()]
        ids = [line["custom_id"] for line in lines]
        # Like the real API, a file that does not validate still makes a batch, one that is ``failed``.
        invalid = [{"code": "invalid_url", "line": n, "message": f"line {n}: url must be {endpoint}"}
                   for n, line in enumerate(lines, 1) if line.get("url") != endpoint]
        if len(set(ids)) != len(ids):
            invalid.append({"code": "duplicate_custom_id", "line": None, "message": "custom_id values must be unique"})
        batch_id = self._next("batch")
        now = time.time()
        batch = {"id": batch_id, "object": "batch", "endpoint": endpoint,
                 "errors": {"object": "list", "data": invalid} if invalid else None, "input_file_id": file_id,
                 "completion_window": window, "status": "failed" if invalid else "in_progress", "output_file_id": None,
                 "error_file_id": None, "created_at": int(now), "in_progress_at": int(now),
                 "metadata": body.get("metadata"),
                 "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}
        cfg = self.config
        expires = cfg.batch_expire_after is not None and (cfg.batch_expires is None or
                                                          self._expired < cfg.batch_expires)
        self._expired += int(expires)
        self._plans[batch_id] = {"lines": lines, "t0": time.monotonic(), "expires": expires, "cut": None}
        self.batches[batch_id] = batch
        self.items += len(lines)
        self.submitted.append({"batch_id": batch_id, "file_id": file_id, "custom_ids": ids})
        return web.Response(body=orjson.dumps(batch), content_type=_JSON)

    async def _list(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        limit = int(request.query.get("limit", "20"))
        newest = sorted(self.batches.values(), key=lambda b: b["id"], reverse=True)
        after = request.query.get("after")
        if after is not None:
            newest = [b for b in newest if b["id"] < after]
        page = [self._advance(b) for b in newest[:limit]]
        return web.Response(body=orjson.dumps({"object": "list", "data": page, "has_more": len(newest) > limit}),
                            content_type=_JSON)

    async def _retrieve(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None:
            return _error(404, "No such batch")
        return web.Response(body=orjson.dumps(self._advance(batch)), content_type=_JSON)

    async def _cancel(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None:
            return _error(404, "No such batch")
        if self._advance(batch)["status"] == "in_progress":
            self._finish(batch, "cancelled", self._finished_count(batch["id"]))
        return web.Response(body=orjson.dumps(batch), content_type=_JSON)

    # -- progress ------------------------------------------------------------------
    def _finished_count(self, batch_id: str) -> int:
        plan = self._plans[batch_id]
        total = len(plan["lines"])
        seconds = self.config.batch_seconds
        elapsed = time.monotonic() - plan["t0"]
        return total if seconds <= 0 else min(total, int(total * elapsed / seconds))

    def _advance(self, batch: dict[str, Any]) -> dict[str, Any]:
        if batch["status"] != "in_progress":
            return batch
        plan = self._plans[batch["id"]]
        cfg = self.config
        elapsed = time.monotonic() - plan["t0"]
        if plan["expires"] and elapsed >= cfg.batch_expire_after and elapsed < cfg.batch_seconds:
            seconds = cfg.batch_seconds
            self._finish(batch, "expired", int(len(plan["lines"]) * cfg.batch_expire_after / seconds))
        elif elapsed >= cfg.batch_seconds:
            self._finish(batch, "completed", len(plan["lines"]))
        else:
            batch["request_counts"]["completed"] = self._finished_count(batch["id"])
        return batch

    def _finish(self, batch: dict[str, Any], status: str, finished: int) -> None:
        """Answer the first ``finished`` items (a drawn few fail), write the files, and end the batch."""
        plan = self._plans[batch["id"]]
        rng = _item_rng(self.config.seed, batch["id"])
        outputs, errors = [], []
        for n, line in enumerate(plan["lines"]):
            cid = line["custom_id"]
            if n >= finished:
                if status == "expired":
                    errors.append(_line(cid, None, {"code": "batch_expired",
                                                    "message": "This request could not be executed before the "
                                                               "completion window expired."}))
                continue
            if rng.random() < self.config.batch_p_fail:
                errors.append(_line(cid, {"status_code": 500, "request_id": self._next("req"),
                                          "body": {"error": {"message": "simulated item failure",
                                                             "type": "server_error"}}}, None))
                continue
            outputs.append(_line(cid, {"status_code": 200, "request_id": self._next("req"),
                                       "body": self._answer(line["body"], batch["endpoint"])}, None))
        now = int(time.time())
        batch["status"] = status
        batch[f"{status}_at"] = now
        failed = sum(1 for e in errors if e["error"] is None)
        batch["request_counts"] = {"total": len(plan["lines"]), "completed": len(outputs), "failed": failed}
        if outputs:
            batch["output_file_id"] = self._store_file(outputs)
        if errors:
            batch["error_file_id"] = self._store_file(errors)

    def _store_file(self, lines: list[dict[str, Any]]) -> str:
        file_id = self._next("file")
        self.files[file_id] = b"".join(orjson.dumps(line) + b"\n" for line in lines)
        return file_id

    def _answer(self, body: dict[str, Any], endpoint: str) -> dict[str, Any]:
        chat = endpoint == "/v1/chat/completions"
        text = prompt_text(body, chat) or ""
        max_tokens = body.get("max_tokens") or self.config.default_max_tokens
        temperature = body.get("temperature")
        answers = answer(text, max_tokens=max_tokens, stop=body.get("stop"), n=body.get("n") or 1,
                         temperature=1.0 if temperature is None else temperature, seed=body.get("seed"))
        choices, completion_tokens = wire.choices(answers, chat)
        return wire.completion(self._next("chatcmpl" if chat else "cmpl"), chat,
                               body.get("model") or self.config.model_name, choices, count_tokens(text),
                               completion_tokens)


def _line(custom_id: str, response: dict[str, Any] | None, error: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": f"batch_req_{custom_id}", "custom_id": custom_id, "response": response, "error": error}


def _item_rng(seed: int, batch_id: str) -> random.Random:
    return random.Random(f"{seed}:{batch_id}")
