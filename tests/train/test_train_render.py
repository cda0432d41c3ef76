"""Rendering with the model's own chat template: the completion mask covers exactly the answer."""

from __future__ import annotations

import pytest

from selfinstruct.errors import ConfigError
from selfinstruct.train.render import CHATML_FALLBACK, ensure_chat_template, tokenize_conversation

PROMPT = [{"role": "user", "content": "Name a colour.\n\nSomething warm."}]
ANSWER = {"role": "assistant", "content": "Red, like 3 ripe tomatoes!"}


@pytest.fixture(scope="module")
def tokenizer(tiny_qwen):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_qwen)


def test_mask_is_zero_on_prompt_and_one_on_answer(tokenizer):
    row = tokenize_conversation(tokenizer, PROMPT, ANSWER)
    ids, mask = row["input_ids"], row["completion_mask"]
    assert len(ids) == len(mask)
    n_prompt = mask.index(1)
    assert set(mask[:n_prompt]) == {0} and set(mask[n_prompt:]) == {1}
    prompt_text = tokenizer.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True)
    assert tokenizer.decode(ids[:n_prompt]) == prompt_text
    # the answer, then the template's end of turn: the model learns to stop
    assert tokenizer.decode(ids[n_prompt:]) == ANSWER["content"] + "<|im_end|>\n"
    assert tokenizer.decode(ids) == tokenizer.apply_chat_template([*PROMPT, ANSWER], tokenize=False)


def test_truncation_keeps_the_start_and_drops_answerless_rows(tokenizer):
    full = tokenize_conversation(tokenizer, PROMPT, ANSWER)
    n_prompt = full["completion_mask"].index(1)
    cut = tokenize_conversation(tokenizer, PROMPT, ANSWER, max_length=n_prompt + 2)
    assert cut["input_ids"] == full["input_ids"][: n_prompt + 2]
    assert cut["completion_mask"] == [0] * n_prompt + [1, 1]
    assert tokenize_conversation(tokenizer, PROMPT, ANSWER, max_length=n_prompt) is None


def test_template_that_rerenders_the_prompt_uses_the_common_prefix(tokenizer):
    # A template that separates turns with a newline, but puts a space before
    # the generation prompt: the rendered prompt is not a prefix of the full text.
    tok = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tok.chat_template = (
        "{%- for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' }}"
        "{%- if not loop.last %}{{ '\\n' }}{%- endif %}{%- endfor %}"
        "{%- if add_generation_prompt %}{{ ' <|im_start|>assistant\\n' }}{%- endif %}"
    )
    prompt_text = tok.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True)
    assert not tok.apply_chat_template([*PROMPT, ANSWER], tokenize=False).startswith(prompt_text)
    row = tokenize_conversation(tok, PROMPT, ANSWER)
    n_prompt = row["completion_mask"].index(1)
    assert set(row["completion_mask"][n_prompt:]) == {1}
    assert tok.decode(row["input_ids"][n_prompt:]).endswith(ANSWER["content"] + "<|im_end|>")
    assert ANSWER["content"] not in tok.decode(row["input_ids"][:n_prompt])


def test_missing_template_falls_back_to_chatml_or_errors(tiny_qwen_no_template, caplog):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen_no_template)
    with pytest.raises(ConfigError, match="no chat template"):
        ensure_chat_template(tok, allow_fallback=False, model_name="m")
    with caplog.at_level("WARNING"):
        assert ensure_chat_template(tok, allow_fallback=True, model_name="m") == "chatml-fallback"
    assert "ChatML fallback" in caplog.text
    assert tok.chat_template == CHATML_FALLBACK
    text = tok.apply_chat_template([*PROMPT, ANSWER], tokenize=False)
    assert text == f"<|im_start|>user\n{PROMPT[0]['content']}<|im_end|>\n<|im_start|>assistant\n{ANSWER['content']}<|im_end|>\n"


def test_model_template_is_kept(tokenizer):
    before = tokenizer.chat_template
    assert ensure_chat_template(tokenizer, allow_fallback=False, model_name="m") == "model"
    assert tokenizer.chat_template == before
