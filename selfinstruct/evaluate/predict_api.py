"""Predictions from an API model through the run harness: rate limits, retries and resume come with it.

Each task becomes one request (its id is the task's id); the harness asks the
ones its state has not answered (rerun to resume: answered tasks are never
asked again, and a task whose prompt changed is asked again), and the answers
are written as prediction records in task order. The state sits next to the
predictions (``NAME_predictions.state.sqlite3``). The key is the caller's: it
is resolved at the edge and passed in.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.engine.retry import RetryConfig
from selfinstruct.engine.throttle import LimitsConfig
from selfinstruct.errors import ConfigError

__all__ = ["PredictApiConfig", "predict_with_api"]


@dataclass(frozen=True, kw_only=True)
class PredictApiConfig:
    api_base: str = field(metadata={"help": "OpenAI-compatible base URL ending in /v1; when given, the API path is used"})
    model: str = field(metadata={"help": "the model name sent to the API"})
    endpoint: str = field(default="chat", metadata={
        "help": "API flavour: /v1/chat/completions or /v1/completions"})
    max_new_tokens: int = field(default=512, metadata={"help": "answer length cap in tokens"})
    do_sample: bool = field(default=False, metadata={"help": "sample instead of greedy decoding"})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature (with --do-sample)"})
    top_p: float = field(default=0.9, metadata={"help": "nucleus sampling p (with --do-sample)"})
    limits: LimitsConfig = field(default_factory=LimitsConfig, metadata={"help": "rpm, tpm, max_concurrency"})
    retry: RetryConfig = field(default_factory=RetryConfig, metadata={"help": "timeout, max_attempts, max_outage"})
    drain_timeout: float = field(default=30.0, metadata={
        "help": "seconds to let in-flight requests finish after SIGINT/SIGTERM"})
    progress_interval: float = field(default=5.0, metadata={"help": "seconds between progress lines"})

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError(f"--max-new-tokens must be >= 1, got {self.max_new_tokens}")

    def endpoint_config(self) -> Any:
        """The endpoint with this prediction's sampling as its default parameters (greedy: temperature 0)."""
        from workers.openai import EndpointConfig

        params: dict[str, Any] = {"max_tokens": self.max_new_tokens,
                                  "temperature": self.temperature if self.do_sample else 0.0}
        if self.do_sample:
            params["top_p"] = self.top_p
        return EndpointConfig(api_base=self.api_base, model=self.model, endpoint=self.endpoint, defaults=params)


def predict_with_api(tasks: list[Any], out_path: Path, config: PredictApiConfig, *, api_key: str | None) -> int:
    """Answer ``tasks`` with the API model and write their prediction records to ``out_path``; the exit code."""
    from selfinstruct.complete import sibling_path
    from selfinstruct.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED
    from selfinstruct.evaluate.tasks import prediction_record
    from selfinstruct.io import storage_error, write_jsonl_atomic

    out_path = Path(out_path)
    state = sibling_path(out_path, ".state.sqlite3")
    try:
        answers, interrupted = asyncio.run(_answer(tasks, state, config, api_key=api_key))
    except OSError as exc:
        raise storage_error(exc.filename or state, exc) from exc
    records = [prediction_record(t, answers[t.id]) for t in tasks if t.id in answers]
    write_jsonl_atomic(out_path, records)
    print(f"predict: {len(records)}/{len(tasks)} answered by {config.model} -> {out_path}", file=sys.stderr)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if len(records) < len(tasks) else EXIT_OK


async def _answer(tasks: list[Any], state: Path, config: PredictApiConfig, *,
                  api_key: str | None) -> tuple[dict[str, str], bool]:
    """({task id: answer text} of every answered task, whether a signal interrupted the run)."""
    from selfinstruct.complete.output import forget_results
    from selfinstruct.complete.requests import changed_ids
    from selfinstruct.engine.fingerprint import of_endpoint
    from selfinstruct.engine.harness import RunHarness, RunSettings
    from selfinstruct.engine.outputs import require_file_path
    from workers.base import Request, Response

    require_file_path(state, "state file")
    endpoint = config.endpoint_config()
    if endpoint.endpoint == "chat":
        requests = [Request(id=t.id, messages=[{"role": "user", "content": t.user_turn}]) for t in tasks]
    else:
        requests = [Request(id=t.id, prompt=f"{t.user_turn}\n\nOutput:") for t in tasks]
    settings = RunSettings(state=state, owner=str(state), endpoint=endpoint, limits=config.limits,
                           retry=config.retry, drain_timeout=config.drain_timeout, label="predict",
                           progress_interval=config.progress_interval,
                           fingerprint=of_endpoint(endpoint))
    async with RunHarness(settings, api_key=api_key) as run:
        await forget_results(run.store, changed_ids(run.store, requests))
        run.stats.total = len(requests)
        interrupted, _ = await run.drive(lambda: run.ask(requests))
        stored = {r.id: run.store.get_response(r.id) for r in requests}
    return {rid: Response.from_json(resp).text for rid, resp in stored.items() if resp is not None}, interrupted
