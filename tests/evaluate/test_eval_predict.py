"""Local prediction on the tiny offline Qwen2: only new tokens are decoded, no prompt echo; CLI flags and dispatch."""

from __future__ import annotations

import sys
import types

import pytest
from conftest import read_jsonl

from selfinstruct.cli import main
from selfinstruct.evaluate.predict_local import LocalGenerationConfig, generate_batch, load_model, render_prompts
from selfinstruct.evaluate.tasks import load_tasks

MAX_NEW = 12


@pytest.fixture(scope="module")
def loaded(tiny_qwen):
    cfg = LocalGenerationConfig(model=str(tiny_qwen), max_new_tokens=MAX_NEW, local_files_only=True)
    model, tokenizer, device = load_model(cfg)
    return cfg, model, tokenizer, device


def test_only_new_tokens_are_decoded(loaded, small_tasks):
    cfg, model, tokenizer, device = loaded
    tasks = load_tasks(small_tasks)
    prompts = render_prompts(tokenizer, tasks)
    assert all(p.startswith("<|im_start|>system") and p.endswith("<|im_start|>assistant\n") for p in prompts)
    gens = generate_batch(model, tokenizer, prompts, cfg, device)
    assert tokenizer.padding_side == "left"
    for task, prompt, gen in zip(tasks, prompts, gens):
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        assert gen.prompt_tokens == len(prompt_ids)
        assert 0 < len(gen.new_token_ids) <= MAX_NEW < gen.prompt_tokens
        assert gen.text == tokenizer.decode(list(gen.new_token_ids), skip_special_tokens=True).strip()
        # no echo: neither the rendered prompt nor the user turn is in the answer
        assert prompt not in gen.text and not gen.text.startswith(prompt[:20])
        assert task.user_turn not in gen.text
        assert "system" not in gen.text[:10] and "<|im_start|>" not in gen.text


def test_left_padded_batch_equals_one_at_a_time(loaded, small_tasks):
    cfg, model, tokenizer, device = loaded
    prompts = render_prompts(tokenizer, load_tasks(small_tasks)[:3])
    lengths = {len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts}
    assert len(lengths) > 1  # the batch really needs padding
    batched = [g.new_token_ids for g in generate_batch(model, tokenizer, prompts, cfg, device)]
    single = [generate_batch(model, tokenizer, [p], cfg, device)[0].new_token_ids for p in prompts]
    assert batched == single


def test_predict_cli_writes_records(tiny_qwen, small_tasks, tmp_path, capsys):
    out = tmp_path / "tiny_predictions.jsonl"
    code = main(["predict", "--model", str(tiny_qwen), "--tasks", str(small_tasks), "--out", str(out),
                 "--max-new-tokens", "8", "--batch-size", "4", "--limit", "5"])
    assert code == 0
    rows = read_jsonl(out)
    tasks = load_tasks(small_tasks)[:5]
    assert [r["id"] for r in rows] == [t.id for t in tasks]  # task order kept despite length-sorted batches
    for r, t in zip(rows, tasks):
        assert set(r) == {"id", "motivation_app", "prompt", "instruction", "input", "response", "target"}
        assert r["target"] == t.target and r["motivation_app"] == t.motivation_app
        assert r["prompt"] not in r["response"]
    assert "wrote 5 predictions" in capsys.readouterr().out


def test_sampling_is_seeded(tiny_qwen, small_tasks, tmp_path):
    """--do-sample samples (not greedy), seeded: the same seed repeats its draws, another seed draws others."""
    def run(*flags: str) -> list[str]:
        out = tmp_path / f"p{len(list(tmp_path.glob('p*.jsonl')))}.jsonl"
        assert main(["predict", "--model", str(tiny_qwen), "--tasks", str(small_tasks), "--out", str(out),
                     "--max-new-tokens", "8", *flags]) == 0
        return [r["response"] for r in read_jsonl(out)]

    greedy = run("--seed", "1")
    assert greedy == run("--seed", "2")          # without --do-sample the seed changes nothing
    sampled = run("--do-sample", "--temperature", "1.5", "--seed", "1")
    assert sampled == run("--do-sample", "--temperature", "1.5", "--seed", "1")
    assert sampled != greedy
    assert sampled != run("--do-sample", "--temperature", "1.5", "--seed", "2")


def test_model_without_chat_template_uses_the_chatml_fallback(tiny_qwen_no_template):
    cfg = LocalGenerationConfig(model=str(tiny_qwen_no_template), max_new_tokens=4, local_files_only=True)
    _, tokenizer, _ = load_model(cfg)
    tasks = load_tasks()[:1]
    assert render_prompts(tokenizer, tasks)[0].endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize(("flags", "message"), [
    (["--temperature", "0"], "--temperature"),
    (["--top-p", "1.5"], "--top-p"),
    (["--batch-size", "0"], "--batch-size"),
    (["--api-base", "http://127.0.0.1:9/v1", "--adapter", "x"], "--adapter"),
])
def test_bad_flags_exit_2(flags, message, tmp_path, capsys):
    assert main(["predict", "--model", "m", "--out", str(tmp_path / "p.jsonl"), *flags]) == 2
    assert message in capsys.readouterr().err


def test_missing_model_exits_2(tmp_path, small_tasks, capsys):
    code = main(["predict", "--model", str(tmp_path / "no-model"), "--tasks", str(small_tasks),
                 "--out", str(tmp_path / "p.jsonl")])
    assert code == 2
    assert "cannot load model" in capsys.readouterr().err


def test_api_base_dispatches_to_predict_api(monkeypatch, small_tasks, tmp_path):
    calls = []

    def fake_predict_with_api(tasks, out_path, config, *, api_key):
        calls.append((tasks, out_path, config, api_key))
        return 3

    from selfinstruct.evaluate.predict_api import PredictApiConfig

    fake = types.ModuleType("selfinstruct.evaluate.predict_api")
    fake.predict_with_api = fake_predict_with_api
    fake.PredictApiConfig = PredictApiConfig
    monkeypatch.setitem(sys.modules, "selfinstruct.evaluate.predict_api", fake)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "api_predictions.jsonl"
    code = main(["predict", "--api-base", "http://127.0.0.1:9/v1", "--model", "gpt-x", "--tasks", str(small_tasks),
                 "--out", str(out), "--endpoint", "completions", "--rpm", "60", "--tpm", "9000",
                 "--max-concurrency", "4", "--timeout", "30", "--max-attempts", "5", "--limit", "2"])
    assert code == 3
    (tasks, out_path, config, api_key), = calls
    assert [t.id for t in tasks] == ["t0", "t1"] and out_path == out
    # The key is resolved by the CLI (default variable OPENAI_API_KEY, unset here: none on loopback).
    assert (config.api_base, config.model, config.endpoint, api_key) == (
        "http://127.0.0.1:9/v1", "gpt-x", "completions", None)
    assert (config.limits.rpm, config.limits.tpm, config.limits.max_concurrency, config.retry.timeout,
            config.retry.max_attempts) == (60, 9000, 4, 30, 5)
    assert (config.max_new_tokens, config.do_sample) == (512, False)
