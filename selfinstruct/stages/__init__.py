"""The Self-Instruct stages as pure logic: prompt building, answer parsing, filters, seeds and exports.

No asyncio, no HTTP, no SQLite here.  Each stage builds a ``Prompt`` for an
endpoint ("chat" or "completions") and parses ``(text, finish_reason)``.  The
``Stage`` protocol (``stages.protocol``) puts both behind one shape: a request
per item (``ask``) and an ``Outcome`` per answer (records and rejects); the
pipeline's scheduler sends the requests and commits each answer with its outcome.

    seeds         load_seed_tasks, default_seed_path              data/seed_tasks.jsonl
    protocol      Stage, Ask, Answer, Outcome, Record, Reject, RunState
    instructions  InstructionPromptBuilder, parse_instruction_list, stage 1  (Table 5)
                  InstructionStage
    filters       InstructionFilter                                stage 1b (reason codes)
    classify      build_classification_prompt, parse_classification, stage 2 (Table 6)
                  ClassifyStage
    instances     build_instance_prompt, process_instances,         stage 3 (Tables 7, 8)
                  InstancesStage
    prepare       prepare_finetuning, is_valid_training_row         stage 4  (exports)
"""

from __future__ import annotations

from selfinstruct.stages.base import ENDPOINTS, FilterResult, Instance, Prompt
from selfinstruct.stages.classify import build_classification_prompt, classification_params, parse_classification
from selfinstruct.stages.filters import (
    ALPACA_EXTRA_BLACKLIST,
    DEFAULT_BLACKLIST,
    InstructionFilter,
    InstructionFilterConfig,
)
from selfinstruct.stages.instances import (
    InstanceFilterResult,
    build_instance_prompt,
    check_instance,
    filter_instances,
    instance_params,
    parse_input_first,
    parse_instances,
    parse_output_first,
    process_instances,
)
from selfinstruct.stages.instructions import (
    InstructionParse,
    InstructionPromptBuilder,
    InstructionPromptConfig,
    instruction_params,
    normalize_instruction,
    parse_instruction_list,
    render_instruction_prompt,
)
from selfinstruct.stages.prepare import (
    FinetuneExports,
    PrepareConfig,
    TrainingExample,
    is_valid_training_row,
    prepare_finetuning,
)
from selfinstruct.stages.seeds import SeedTask, default_seed_path, load_seed_tasks
from selfinstruct.stages.templates import (
    CLASSIFICATION_HEADER,
    CLF_INSTRUCTION_HEADER,
    INPUT_FIRST_HEADER,
    INSTRUCTION_HEADER,
    OUTPUT_FIRST_HEADER,
)

__all__ = [
    # values
    "ENDPOINTS", "Prompt", "Instance", "FilterResult",
    # headers the simulated LM recognises
    "INSTRUCTION_HEADER", "CLF_INSTRUCTION_HEADER", "CLASSIFICATION_HEADER",
    "INPUT_FIRST_HEADER", "OUTPUT_FIRST_HEADER",
    # seeds
    "SeedTask", "load_seed_tasks", "default_seed_path",
    # stage 1
    "InstructionPromptConfig", "InstructionPromptBuilder", "render_instruction_prompt", "instruction_params",
    "InstructionParse", "parse_instruction_list", "normalize_instruction",
    # stage 1b
    "InstructionFilterConfig", "InstructionFilter", "DEFAULT_BLACKLIST", "ALPACA_EXTRA_BLACKLIST",
    # stage 2
    "build_classification_prompt", "classification_params", "parse_classification",
    # stage 3
    "build_instance_prompt", "instance_params", "parse_input_first", "parse_output_first", "parse_instances",
    "check_instance", "InstanceFilterResult", "filter_instances", "process_instances",
    # stage 4
    "TrainingExample", "PrepareConfig", "FinetuneExports", "prepare_finetuning", "is_valid_training_row",
]
