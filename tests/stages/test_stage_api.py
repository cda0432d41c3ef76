"""The public surface of selfinstruct.stages, pinned; the header strings other parts recognise."""

from __future__ import annotations

import selfinstruct.stages as stages

EXPECTED = {
    "ENDPOINTS", "Prompt", "Instance", "FilterResult",
    "INSTRUCTION_HEADER", "CLF_INSTRUCTION_HEADER", "CLASSIFICATION_HEADER", "INPUT_FIRST_HEADER",
    "OUTPUT_FIRST_HEADER",
    "SeedTask", "load_seed_tasks", "default_seed_path",
    "InstructionPromptConfig", "InstructionPromptBuilder", "render_instruction_prompt", "instruction_params",
    "InstructionParse", "parse_instruction_list", "normalize_instruction",
    "InstructionFilterConfig", "InstructionFilter", "DEFAULT_BLACKLIST", "ALPACA_EXTRA_BLACKLIST",
    "build_classification_prompt", "classification_params", "parse_classification",
    "build_instance_prompt", "instance_params", "parse_input_first", "parse_output_first", "parse_instances",
    "check_instance", "InstanceFilterResult", "filter_instances", "process_instances",
    "TrainingExample", "PrepareConfig", "FinetuneExports", "prepare_finetuning", "is_valid_training_row",
}


def test_public_api_is_pinned():
    assert set(stages.__all__) == EXPECTED
    assert len(stages.__all__) == len(EXPECTED)
    assert all(hasattr(stages, name) for name in stages.__all__)


def test_header_strings():
    assert stages.INSTRUCTION_HEADER == "Come up with a series of tasks:\n"
    assert stages.CLF_INSTRUCTION_HEADER == ("Come up with a series of classification tasks. Try to specify the "
                                             "possible output labels when possible.\n")
    assert stages.CLASSIFICATION_HEADER == ("Can the following task be regarded as a classification task with "
                                            "finite output labels?\n\n")
    assert stages.INPUT_FIRST_HEADER == (
        "Come up with examples for the following tasks. Try to generate multiple examples when possible. If the "
        "task doesn't require additional input, you can generate the output directly.\n\n")
    assert stages.OUTPUT_FIRST_HEADER == (
        "Given the classification task definition and the class labels, generate an input that corresponds to "
        "each of the class labels. If the task doesn't require input, just generate possible class labels.\n\n")


def test_stages_import_nothing_heavy():
    import subprocess
    import sys
    code = ("import sys, selfinstruct.stages; "
            "bad = [m for m in ('asyncio', 'aiohttp', 'sqlite3', 'torch', 'transformers') if m in sys.modules]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
