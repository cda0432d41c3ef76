"""The top-level public surface is explicit, stable and cheap to import."""

import subprocess
import sys

import selfinstruct

EXPECTED = {
    "GenerateConfig", "GenerationConfig", "build_generate_config", "table_from_flat", "generate_async",
    "run_generate", "GenerateResult", "CompleteConfig", "complete_async", "run_complete", "Engine", "Throttle",
    "LimitsConfig", "RetryConfig", "CheckpointStore", "EngineStats", "PriceTable", "DedupConfig",
    "NearDuplicateFilter", "ExactRougeFilter", "SelfInstructError", "ConfigError", "InputError", "StorageError",
    "RequestError", "RequestFailed", "__version__",
}


def test_all_is_pinned():
    assert set(selfinstruct.__all__) == EXPECTED


def test_every_name_resolves():
    for name in selfinstruct.__all__:
        assert getattr(selfinstruct, name) is not None, name


def test_import_is_light():
    code = ("import sys, selfinstruct; "
            "print([m for m in ('aiohttp', 'datasketch', 'torch', 'numpy', 'rich') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
