"""`complete`: resumable, rate-limited batch completion of a JSONL file, one answer line per input id.

An application of the engine (through its run harness), like ``selfinstruct.pipeline``:
``requests`` reads and checks the input, ``output`` keeps the output file exactly-once,
``run`` puts them together.
"""

from selfinstruct.complete.requests import parse_request_line
from selfinstruct.complete.run import (
    CompleteConfig,
    build_complete_config,
    CompleteResult,
    complete_async,
    infer_endpoint,
    run_complete,
    sibling_path,
)

__all__ = ["CompleteConfig", "CompleteResult", "run_complete", "complete_async", "parse_request_line",
           "infer_endpoint", "sibling_path", "build_complete_config"]
