"""Prometheus metrics read from the live job stats at scrape time, in a registry the service owns.

Nothing is counted twice: the engine already keeps counters per job
(``EngineStats``) and per endpoint (the shared ``Throttle``), so a custom
collector turns them into metric families when ``/metrics`` is scraped. No
module-level registry or metric objects exist, so two services (or tests) in
one process never see each other's numbers.

One rule for every counter (Prometheus' own): a ``*_total`` counts events this
process has seen since it started, from zero, and never goes down while it
runs; ``rate()`` and ``increase()`` handle the reset at a restart.  A resumed
job therefore starts its counters at zero in a new process (its rejects are
``rejects_this_process``, not the restored ``rejects_by_reason``), while GET
/jobs/<id> keeps the job's totals over its whole life.  Gauges show current
state (accepted instructions of the whole job, jobs by state, in flight).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from selfinstruct.service.states import STATES

__all__ = ["ServiceCollector", "build_registry", "render", "job_metrics"]


def job_metrics(stats: Mapping[str, Any], live: Collection[str] = ()) -> list[Metric]:
    """Per-job families from ``{job id: EngineStats}`` of the jobs this process has run; ``live``: running jobs."""
    requests = CounterMetricFamily("selfinstruct_requests", "Requests finished, by outcome (ok: answered by "
                                   "the endpoint; cached: answered from the checkpoint; failed: out of "
                                   "attempts)", labels=["job", "status"])
    calls = CounterMetricFamily("selfinstruct_http_calls", "HTTP calls sent, retries included", labels=["job"])
    errors = CounterMetricFamily("selfinstruct_http_errors", "Failed HTTP calls by kind (status or error)",
                                 labels=["job", "kind"])
    tokens = CounterMetricFamily("selfinstruct_tokens", "Tokens reported by the endpoint",
                                 labels=["job", "kind"])
    retries = CounterMetricFamily("selfinstruct_retries", "Calls that were retries", labels=["job"])
    limited = CounterMetricFamily("selfinstruct_rate_limited", "HTTP 429 answers", labels=["job"])
    in_flight = GaugeMetricFamily("selfinstruct_in_flight", "Calls in flight", labels=["job"])
    window = GaugeMetricFamily("selfinstruct_concurrency_window", "Current adaptive concurrency window",
                               labels=["job"])
    accepted = GaugeMetricFamily("selfinstruct_accepted_instructions", "Instructions accepted so far",
                                 labels=["job"])
    target = GaugeMetricFamily("selfinstruct_target_instructions", "Instructions the job asks for",
                               labels=["job"])
    endpoint_up = GaugeMetricFamily("selfinstruct_endpoint_up", "1 while the job's endpoint answers, 0 while "
                                    "its circuit breaker is open (the endpoint is down); running jobs only",
                                    labels=["job"])
    rejected = CounterMetricFamily("selfinstruct_rejected", "Rejected instructions and instances, by stage "
                                   "and reason, decided by this process (job totals: GET /jobs/<id>)",
                                   labels=["job", "stage", "reason"])
    r_calls = CounterMetricFamily("selfinstruct_replica_http_calls", "HTTP calls sent to each replica of the "
                                  "job's backend (backends with replicas only)", labels=["job", "replica"])
    r_answered = CounterMetricFamily("selfinstruct_replica_answered", "Calls each replica answered with a 200",
                                     labels=["job", "replica"])
    r_limited = CounterMetricFamily("selfinstruct_replica_rate_limited", "HTTP 429 answers by replica",
                                    labels=["job", "replica"])
    r_errors = CounterMetricFamily("selfinstruct_replica_errors", "Other failed calls by replica",
                                   labels=["job", "replica"])
    r_up = GaugeMetricFamily("selfinstruct_replica_up", "1 while the replica answers, 0 while its circuit breaker "
                             "is open or it was retired; running jobs only", labels=["job", "replica"])
    for job, s in sorted(stats.items()):
        for label, replica in sorted(s.replicas.items()):
            r = replica.snapshot()
            r_calls.add_metric([job, label], r["calls"])
            r_answered.add_metric([job, label], r["answered"])
            r_limited.add_metric([job, label], r["rate_limited_429"])
            r_errors.add_metric([job, label], r["errors"])
            if job in live:
                r_up.add_metric([job, label], 1 if r["up"] else 0)
        requests.add_metric([job, "ok"], max(0, s.done - s.cached))
        requests.add_metric([job, "cached"], s.cached)
        requests.add_metric([job, "failed"], s.failed)
        calls.add_metric([job], s.calls)
        for kind, n in sorted(s.errors.items()):
            errors.add_metric([job, str(kind)], n)
        tokens.add_metric([job, "prompt"], s.prompt_tokens)
        tokens.add_metric([job, "completion"], s.completion_tokens)
        retries.add_metric([job], s.retries)
        limited.add_metric([job], s.rate_limited)
        in_flight.add_metric([job], s.in_flight)
        window.add_metric([job], s.window)
        if job in live:
            endpoint_up.add_metric([job], 0 if s.endpoint_down_since is not None else 1)
        accepted.add_metric([job], s.extra.get("accepted_instructions", 0))
        if s.extra.get("target_instructions"):
            target.add_metric([job], s.extra["target_instructions"])
        for key, n in sorted((s.extra.get("rejects_this_process") or {}).items()):
            stage, _, reason = key.partition(":")
            rejected.add_metric([job, stage, reason], n)
    return [requests, calls, errors, tokens, retries, limited, in_flight, window, endpoint_up, accepted, target,
            rejected, r_calls, r_answered, r_limited, r_errors, r_up]


class ServiceCollector:
    """Reads a ``JobManager`` (its per-job stats, its shared limits and the job table) at every scrape."""

    def __init__(self, manager: Any):
        self.manager = manager

    def collect(self) -> Iterator[Metric]:
        m = self.manager
        yield from job_metrics(m.stats, live=m.live)

        counts = m.store.count_by_state()
        jobs = GaugeMetricFamily("selfinstruct_jobs", "Jobs by state", labels=["state"])
        for state in STATES:
            jobs.add_metric([state], counts.get(state, 0))
        yield jobs
        waiting = sum(1 for rec in m.store.all(states=("queued",)) if rec.id not in m.live)
        yield GaugeMetricFamily("selfinstruct_queue_depth", "Queued jobs waiting for a free run slot",
                                value=waiting)
        yield GaugeMetricFamily("selfinstruct_running_jobs", "Job runs going on in this process",
                                value=len(m.live))

        ep_in_flight = GaugeMetricFamily("selfinstruct_endpoint_in_flight", "Calls in flight on a shared "
                                         "endpoint throttle (all its jobs)", labels=["endpoint", "group"])
        ep_window = GaugeMetricFamily("selfinstruct_endpoint_concurrency_window", "Shared concurrency window",
                                      labels=["endpoint", "group"])
        ep_rate = GaugeMetricFamily("selfinstruct_endpoint_pacing_rate", "Shared pacing rate, requests per second",
                                    labels=["endpoint", "group"])
        ep_jobs = GaugeMetricFamily("selfinstruct_endpoint_jobs", "Jobs sharing the endpoint's limits",
                                    labels=["endpoint", "group"])
        r_in_flight = GaugeMetricFamily("selfinstruct_replica_in_flight", "Calls in flight on a replica's shared "
                                        "throttle (all jobs of its backend)", labels=["backend", "replica"])
        r_window = GaugeMetricFamily("selfinstruct_replica_concurrency_window", "A replica's concurrency window",
                                     labels=["backend", "replica"])
        r_rate = GaugeMetricFamily("selfinstruct_replica_pacing_rate", "A replica's pacing rate, requests per "
                                   "second", labels=["backend", "replica"])
        for e in m.limits.snapshot():
            if e["replica"] is not None:
                rl = [e["backend"], e["replica"]]
                r_in_flight.add_metric(rl, e["in_flight"])
                r_window.add_metric(rl, e["window"])
                if e["rate"] is not None:
                    r_rate.add_metric(rl, e["rate"])
            labels = [e["endpoint"], str(e["group"])]
            ep_in_flight.add_metric(labels, e["in_flight"])
            ep_window.add_metric(labels, e["window"])
            if e["rate"] is not None:
                ep_rate.add_metric(labels, e["rate"])
            ep_jobs.add_metric(labels, len(e["jobs"]))
        yield from (ep_in_flight, ep_window, ep_rate, ep_jobs, r_in_flight, r_window, r_rate)


def build_registry(manager: Any) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(manager))  # type: ignore[arg-type]
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
