"""Batch completion of a JSONL file through the run harness: the library behind `selfinstruct complete`.

Exactly-once output, across kills: results are committed to the store first;
an exporter then appends committed results to OUTPUT in commit order, fsyncs,
and records (last exported sequence, file size) in the store in the same
transaction. On restart OUTPUT is truncated back to the recorded size, which
removes any torn or unrecorded tail, and export resumes after the recorded
sequence. So each id appears exactly once, and no line is ever half written.

Before anything is sent the whole input is checked once (``requests``):
duplicate ids are an error, an id whose request changed is asked again, and
an id no longer in the input leaves the state. When that removed any exported
line, OUTPUT is rebuilt atomically from the store (temp file, fsync, rename)
and the append protocol continues from there: OUTPUT always holds exactly one
line per current input id, each naming the model that answered it.

One run per state: the state's lock file (``STATE.lock``) is held for the whole
run, and the state's fingerprint (model, endpoint kind, default parameters) must
match unless ``allow_changes`` is set (see ``fingerprint``).

Input is read lazily, and at most ``max_concurrency`` tasks exist at a time;
what grows with the input is one dict of ids to line numbers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.complete.output import AppendingExport, OutputExporter
from selfinstruct.complete.requests import DUPLICATE_POLICIES, InputScan, parse_request_line, scan_input
from selfinstruct.engine import fingerprint
from selfinstruct.engine.harness import RunHarness, RunSettings, exit_code
from selfinstruct.engine.outputs import refuse_overlaps, require_file_path
from selfinstruct.engine.retry import RetryConfig
from selfinstruct.engine.runlock import state_lock_path
from selfinstruct.engine.stats import PriceTable
from selfinstruct.engine.throttle import LimitsConfig, Throttle
from selfinstruct.errors import ConfigError, StorageError
from selfinstruct.io import iter_jsonl, storage_error, write_json_atomic, write_jsonl_atomic
from workers.base import Request

__all__ = ["CompleteConfig", "CompleteResult", "run_complete", "complete_async", "sibling_path", "parse_request_line",
           "infer_endpoint", "build_complete_config"]

log = logging.getLogger(__name__)


def sibling_path(output: Path, suffix: str) -> Path:
    """``runs/out.jsonl`` + ``.failed.jsonl`` -> ``runs/out.failed.jsonl``."""
    stem = output.name[: -len(".jsonl")] if output.name.endswith(".jsonl") else output.name
    return output.with_name(stem + suffix)


@dataclass(frozen=True, kw_only=True)
class CompleteConfig:
    input_path: Path = field(metadata={"help": 'one request per line: {"id", "prompt"} or {"id", "messages"}'})
    output_path: Path = field(metadata={"help": "one line per current input id"})
    endpoint: Any = field(metadata={"help": "the endpoint (workers.openai.EndpointConfig)"})
    state_path: Path | None = field(default=None, metadata={
        "help": "SQLite state file (None: OUTPUT.state.sqlite3 next to OUTPUT)"})
    limits: LimitsConfig = field(default_factory=LimitsConfig, metadata={"help": "rpm, tpm, max_concurrency"})
    retry: RetryConfig = field(default_factory=RetryConfig, metadata={"help": "timeout, max_attempts, max_outage"})
    drain_timeout: float = field(default=30.0, metadata={
        "help": "seconds to let in-flight requests finish after SIGINT/SIGTERM"})
    progress_interval: float = field(default=5.0, metadata={
        "help": "seconds between progress lines when stderr is not a TTY"})
    live_progress: bool | None = field(default=None, metadata={
        "help": "redraw one progress line (None: when stderr is a TTY)"})
    synchronous: str = field(default="NORMAL", metadata={"help": "SQLite synchronous mode of the state file"})
    prices: PriceTable = field(default_factory=PriceTable, metadata={"help": "per-model prices for the cost line"})
    handle_signals: bool = field(default=True, metadata={"help": "drain on SIGINT/SIGTERM"})
    allow_changes: bool = field(default=False, metadata={
        "help": "resume even though the model, endpoint kind or default parameters differ from the state's "
                "(the change is recorded in the state); without it such a resume exits 2"})
    duplicate_ids: str = field(default="error", metadata={
        "help": "an id on more than one input line: 'error' (exit 2 listing them) or "
                "'first' (keep each id's first line)"})
    batch: Any = field(default=None, metadata={
        "help": "Batch API mode and settings (selfinstruct.batch.BatchConfig; None: online)"})
    batch_prices: Any = field(default=None, metadata={
        "help": "batch and online prices for the cost split in the stats (selfinstruct.batch.BatchPrices)"})

    def __post_init__(self) -> None:
        if self.duplicate_ids not in DUPLICATE_POLICIES:
            raise ConfigError(f"duplicate_ids must be one of {', '.join(DUPLICATE_POLICIES)}, got {self.duplicate_ids!r}")

    def fingerprint(self) -> dict[str, Any]:
        """What defines the answers (see ``fingerprint``); each id's request hash is kept per result."""
        return fingerprint.of_endpoint(self.endpoint)

    def check_paths(self) -> None:
        """Refuse outputs that are the input (or each other) before anything is opened."""
        outputs = {"output": self.output_path, "state file": self.state, "failed file": self.failed_path,
                   "stats file": self.stats_path, "lock file": state_lock_path(self.state)}
        for name in ("output", "state file"):
            require_file_path(outputs[name], name)
        refuse_overlaps(outputs, {"input": self.input_path})

    @property
    def state(self) -> Path:
        return self.state_path or sibling_path(self.output_path, ".state.sqlite3")

    @property
    def failed_path(self) -> Path:
        return sibling_path(self.output_path, ".failed.jsonl")

    @property
    def stats_path(self) -> Path:
        return sibling_path(self.output_path, ".stats.json")


@dataclass
class CompleteResult:
    exit_code: int
    stats: dict[str, Any]
    failed: int
    interrupted: bool = False


async def complete_async(config: CompleteConfig, *, api_key: str | None = None, worker: Any = None,
                         throttle: Throttle | None = None) -> CompleteResult:
    config.check_paths()
    settings = RunSettings(state=config.state, owner=str(config.state), endpoint=config.endpoint,
                           limits=config.limits, retry=config.retry, fingerprint=config.fingerprint(),
                           allow_changes=config.allow_changes, synchronous=config.synchronous,
                           drain_timeout=config.drain_timeout, handle_signals=config.handle_signals,
                           label="complete", progress_interval=config.progress_interval,
                           live_progress=config.live_progress, batch=config.batch)
    async with RunHarness(settings, api_key=api_key, worker=worker, throttle=throttle) as run:
        store = run.store
        exporter = OutputExporter(store, config.output_path)
        scan = await asyncio.to_thread(scan_input, config.input_path, config.endpoint.endpoint, store,
                                       duplicate_ids=config.duplicate_ids)
        if scan.changed or scan.removed:
            log.info("input changed since the last run: %d request(s) changed (asked again), %d id(s) removed",
                     len(scan.changed), len(scan.removed))
        await exporter.forget(scan.changed + scan.removed)
        exporter.prepare()
        run.stats.total = scan.total
        live = AppendingExport(exporter, run.shutdown.stop)
        interrupted, _ = await run.drive(lambda: run.ask(_input_requests(config, scan)), live=live,
                                         final=live.final)
        failed_rows = store.failed_rows() if run.healthy else []
        models = store.models() if run.healthy else {}
        changes = fingerprint.history(store) if run.healthy else []
        batches = [row.to_json() for row in store.batches()] if run.healthy and run.batch_engine else None
    if live.failure is not None:
        raise StorageError(f"{live.failure}; every answer so far is kept in {config.state}: "
                           f"free some space and rerun the same command to resume") from live.failure

    write_jsonl_atomic(config.failed_path, (
        {"id": r["id"], "error": r["error"], "attempts": r["attempts"], **({"request": r["request"]} if r["request"] else {})}
        for r in failed_rows))
    snapshot = run.stats.snapshot(config.prices)
    snapshot["duplicate_ids_skipped"] = scan.duplicates
    snapshot["changed_requests"] = len(scan.changed)
    snapshot["removed_ids"] = len(scan.removed)
    snapshot["models"] = models
    if changes:
        snapshot["settings_changes"] = changes
    snapshot["failed_total"] = len(failed_rows)
    snapshot["interrupted"] = interrupted
    if batches is not None:
        _batch_stats(snapshot, config, run, batches)
    write_json_atomic(config.stats_path, snapshot)
    return CompleteResult(exit_code=exit_code(interrupted=interrupted, incomplete=bool(failed_rows)),
                          stats=snapshot, failed=len(failed_rows), interrupted=interrupted)


def _batch_stats(snapshot: dict[str, Any], config: CompleteConfig, run: RunHarness,
                 batches: list[dict[str, Any]]) -> None:
    """Batch mode's part of the stats: every batch with its ids and counts, and the cost split."""
    from selfinstruct.batch import BatchPrices, cost_fields

    counts = run.batch_engine.counts
    prices = config.batch_prices or BatchPrices(online=config.prices)
    costs = cost_fields(prices, config.endpoint.model,
                        (counts["batch_prompt_tokens"], counts["batch_completion_tokens"]),
                        (run.stats.prompt_tokens, run.stats.completion_tokens))
    snapshot.update(costs, mode=config.batch.mode, batches=batches, cost_usd_estimate=costs["cost_total_usd"])


def _input_requests(config: CompleteConfig, scan: InputScan) -> Iterator[Request]:
    """The input's requests, read lazily, each id's first line only (the scan checked every line)."""
    path = str(config.input_path)
    for lineno, obj in iter_jsonl(config.input_path):
        req = parse_request_line(obj, path, lineno, config.endpoint.endpoint)
        if scan.counts(req.id, lineno):
            yield req


def infer_endpoint(path: Path) -> str:
    """'chat' when the first request has ``messages``, else 'completions'."""
    for _, obj in iter_jsonl(path):
        return "chat" if "messages" in obj else "completions"
    return "completions"


def run_complete(config: CompleteConfig, *, api_key: str | None = None) -> CompleteResult:
    """Synchronous entry point (used by the CLI)."""
    try:
        return asyncio.run(complete_async(config, api_key=api_key))
    except OSError as exc:
        raise storage_error(exc.filename or config.output_path, exc) from exc


def build_complete_config(table: dict[str, Any], *, input_path: Path, output_path: Path, source: str = "<flags>",
                          **settings: Any) -> CompleteConfig:
    """A ``CompleteConfig`` from a TOML-shaped table ([endpoint], [limits], [retry], [prices]; flags already
    merged in as dotted overrides) plus the run's own ``settings`` (state_path, drain_timeout, ...).

    The endpoint kind, when neither file nor flag names it, follows the input: chat for ``messages`` requests.
    """
    from selfinstruct.config import build, check_keys, table_of
    from selfinstruct.net import split_key_source
    from workers.openai import EndpointConfig

    from selfinstruct.batch import BatchConfig, BatchPrices, batch_table

    check_keys(table, {"endpoint", "limits", "retry", "prices", "batch"}, source=source)
    tables = {name: table_of(table, name, source=source)
              for name in ("endpoint", "limits", "retry", "prices", "batch")}
    tables["endpoint"], tables["batch"] = batch_table(tables["endpoint"], tables["batch"], source=source)
    _, endpoint = split_key_source(tables["endpoint"])  # the key's variable is the CLI's (selfinstruct.net)
    if endpoint.get("endpoint") is None:
        endpoint["endpoint"] = infer_endpoint(input_path)
    return CompleteConfig(
        input_path=input_path, output_path=output_path,
        endpoint=build(EndpointConfig, endpoint, source=source, section="endpoint"),
        limits=build(LimitsConfig, tables["limits"], source=source, section="limits"),
        retry=build(RetryConfig, tables["retry"], source=source, section="retry"),
        prices=PriceTable.from_table(tables["prices"], source=source),
        batch=build(BatchConfig, tables["batch"], source=source, section="batch"),
        batch_prices=BatchPrices.from_table(tables["prices"], source=source),
        **settings)
