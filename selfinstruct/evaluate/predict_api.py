"""Predictions from an API model through the engine: rate limits, retries and resume come with it.

The tasks become a `complete` request file next to the output; the engine
answers it (rerun to resume: answered tasks are never asked again); the answers
are then written as prediction records in task order.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from selfinstruct.engine.batch import sibling_path

__all__ = ["predict_with_api"]


def predict_with_api(tasks: list[Any], out_path: Path, args: Any) -> int:  # the parsed predict flags
    from selfinstruct.config import build, table_from_dotted
    from selfinstruct.engine.batch import CompleteConfig, run_complete
    from selfinstruct.engine.retry import RetryConfig
    from selfinstruct.engine.throttle import LimitsConfig
    from selfinstruct.errors import EXIT_INTERRUPTED, EXIT_SOME_FAILED
    from selfinstruct.evaluate.tasks import prediction_record
    from selfinstruct.io import iter_jsonl, write_jsonl_atomic
    from workers.openai import EndpointConfig

    params: dict[str, Any] = {"max_tokens": args.max_new_tokens,
                              "temperature": args.temperature if args.do_sample else 0.0}
    if args.do_sample:
        params["top_p"] = args.top_p
    endpoint = EndpointConfig(api_base=args.api_base, model=args.model, endpoint=args.endpoint,
                              api_key_env=args.api_key_env, defaults=params)
    flags = table_from_dotted({"limits.rpm": args.rpm, "limits.tpm": args.tpm,
                               "limits.max_concurrency": args.max_concurrency, "retry.timeout": args.timeout,
                               "retry.max_attempts": args.max_attempts, "retry.max_outage": args.max_outage})
    limits = build(LimitsConfig, flags.get("limits", {}))
    retry = build(RetryConfig, flags.get("retry", {}))
    api_key = args.api_key  # read by the CLI

    out_path = Path(out_path)
    requests_path = sibling_path(out_path, ".requests.jsonl")
    answers_path = sibling_path(out_path, ".answers.jsonl")
    rows = []
    for task in tasks:
        if args.endpoint == "chat":
            rows.append({"id": task.id, "messages": [{"role": "user", "content": task.user_turn}]})
        else:
            rows.append({"id": task.id, "prompt": f"{task.user_turn}\n\nOutput:"})
    write_jsonl_atomic(requests_path, rows)
    config = CompleteConfig(input_path=requests_path, output_path=answers_path, endpoint=endpoint, limits=limits,
                            retry=retry)
    result = run_complete(config, api_key=api_key)
    answers = {obj["id"]: obj["text"] for _, obj in iter_jsonl(answers_path)}
    records = [prediction_record(t, answers[t.id]) for t in tasks if t.id in answers]
    write_jsonl_atomic(out_path, records)
    print(f"predict: {len(records)}/{len(tasks)} answered by {args.model} -> {out_path}", file=sys.stderr)
    if result.exit_code == EXIT_INTERRUPTED:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if len(records) < len(tasks) else 0
