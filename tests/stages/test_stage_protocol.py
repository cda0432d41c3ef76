"""The Stage protocol's three implementations, as pure functions of (item, answer, run state): tables."""

from __future__ import annotations

import pytest

from selfinstruct.dedup.config import Decision
from selfinstruct.stages import (
    CLASSIFICATION_HEADER,
    INPUT_FIRST_HEADER,
    OUTPUT_FIRST_HEADER,
    InstructionFilter,
    InstructionPromptBuilder,
    InstructionPromptConfig,
    SeedTask,
)
from selfinstruct.stages.classify import ClassifyStage
from selfinstruct.stages.instances import InstancesStage
from selfinstruct.stages.instructions import InstructionStage
from selfinstruct.stages.protocol import Answer, Record, Reject, RunState, instruction_key

SEEDS = [SeedTask(id=f"s{i}", name=f"n{i}", instruction=f"Seed instruction number {i}", instances=(),
                  is_classification=i % 2 == 0) for i in range(10)]


class ExactDedup:
    """Keeps a text unless the very same text was kept before."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def check_and_add(self, text: str) -> Decision:
        if text in self.seen:
            return Decision(keep=False, max_score=1.0, most_similar={text: 1.0}, avg_similarity_estimate=0.5)
        self.seen.append(text)
        return Decision(keep=True, max_score=0.25, most_similar={}, avg_similarity_estimate=0.1)


def _generation(target: int = 100, endpoint: str = "completions", classification_only: bool = False):
    state = RunState()
    builder = InstructionPromptBuilder(SEEDS, InstructionPromptConfig(endpoint=endpoint,
                                                                      classification_only=classification_only))
    return state, InstructionStage(state, builder, InstructionFilter(), ExactDedup(), target=target, seed=7)


GOOD = "Write a short story about a lighthouse keeper and his dog."
OTHER = "Explain how tides are caused by the moon and the sun."


@pytest.mark.parametrize("text, finish, accepted, reasons", [
    (f" {GOOD}\n10. {OTHER}", "stop", [GOOD, OTHER], []),
    (f" {GOOD}\n10. {GOOD}", "stop", [GOOD], []),                                  # the parser drops repeats
    (f" {GOOD}\n10. Hi", "stop", [GOOD], ["instruction:too_short"]),
    (f" {GOOD}\n10. Write a program to sort a list of numbers in Python.", "stop", [GOOD],
     ["instruction:write_a_program"]),
    (f" {GOOD}\n10. {OTHER}", "length", [], ["generate:finish_reason_length"]),
    ("", "stop", [], []),
])
def test_instruction_stage_answer(text, finish, accepted, reasons):
    state, stage = _generation()
    out = stage.answer(42, Answer("gen-000042", text, finish, meta={"first_number": 9}))
    assert out.advances == accepted and state.pool == accepted
    assert [r.counter for r in out.rejects] == reasons
    assert out.reject_key == "gen-000042"
    kinds = [(r.kind, r.key) for r in out.records]
    assert kinds == [("instruction", instruction_key(t)) for t in accepted] + [("processed", "gen-000042")]
    assert out.records[-1].data == {"accepted": len(accepted)}
    for rec in out.records[:-1]:
        assert rec.data["request_idx"] == 42 and rec.data["metadata"]["request_id"] == "gen-000042"


def test_instruction_stage_dedups_against_earlier_answers_and_stops_at_the_target():
    state, stage = _generation(target=2)
    stage.answer(0, Answer("gen-000000", f" {GOOD}", "stop", meta={"first_number": 9}))
    out = stage.answer(1, Answer("gen-000001", f" {GOOD}\n10. {OTHER}\n11. Describe a sunset over the sea.", "stop",
                                 meta={"first_number": 9}))
    assert [r.counter for r in out.rejects] == ["instruction:rouge_l_similar"]
    assert out.rejects[0].extra["max_rouge_l"] == 1.0
    assert out.advances == [OTHER] and state.pool == [GOOD, OTHER]   # the third is surplus: not examined


@pytest.mark.parametrize("endpoint, first_number", [("completions", 9), ("chat", None)])
def test_instruction_stage_ask_is_deterministic(endpoint, first_number):
    _, stage = _generation(endpoint=endpoint)
    ask = stage.ask(42)
    assert ask.id == "gen-000042" and InstructionStage.index(ask.id) == 42
    assert ask.meta == {"stage": "generate", "first_number": first_number}
    assert stage.ask(42) == ask and stage.ask(43).prompt != ask.prompt


def test_instruction_stage_samples_the_classification_pool_in_classification_only_mode():
    state, stage = _generation(classification_only=True)
    state.pool.append("An instruction that is not a classification task at all.")
    state.pool_clf.append("Classify the sentiment of this movie review.")
    text = stage.ask(0).prompt.text
    assert "Classify the sentiment" in text and "not a classification task" not in text


def test_instruction_stage_failure_marks_the_answer_processed():
    _, stage = _generation()
    ask = stage.ask(3)
    out = stage.failed(3, ask, "ServerError: boom")
    assert out.records == [Record("processed", "gen-000003", {"accepted": 0})]
    assert out.rejects == [Reject("generate", "request_failed", "", {"request_id": "gen-000003",
                                                                    "error": "ServerError: boom"})]
    assert out.advances == []


@pytest.mark.parametrize("text, label, reasons", [
    ("Yes", True, []),
    (" no.", False, []),
    ("**Yes**, it is", True, []),
    ("maybe", False, ["classify:unparseable_answer"]),
])
def test_classify_stage_answer(text, label, reasons):
    state = RunState(pool=["Tell apart cats and dogs."])
    stage = ClassifyStage(state, endpoint="completions")
    ask = stage.ask("Tell apart cats and dogs.")
    assert ask.id == f"clf-{instruction_key('Tell apart cats and dogs.')}" and CLASSIFICATION_HEADER in ask.prompt.text
    assert not stage.done("Tell apart cats and dogs.")
    out = stage.answer("Tell apart cats and dogs.", Answer(ask.id, text, "stop", meta=ask.meta))
    assert state.labels == {"Tell apart cats and dogs.": label}
    assert state.pool_clf == (["Tell apart cats and dogs."] if label else [])
    assert out.records == [Record("clf", instruction_key("Tell apart cats and dogs."), {
        "instruction": "Tell apart cats and dogs.", "is_classification": label, "raw_answer": text})]
    assert [r.counter for r in out.rejects] == reasons
    if reasons:
        assert out.reject_key == f"{ask.id}-answer"
    assert out.advances == ["Tell apart cats and dogs."] and stage.done("Tell apart cats and dogs.")
    assert stage.count() == 1


def test_classify_stage_assumes_classification_without_asking():
    state = RunState()
    stage = ClassifyStage(state, endpoint="chat", assume_classification=True)
    assert stage.ask("Sort these words.") is None
    out = stage.answer("Sort these words.", None)
    assert out.records[0].data == {"instruction": "Sort these words.", "is_classification": True, "raw_answer": None}
    assert state.pool_clf == ["Sort these words."] and out.rejects == []


@pytest.mark.parametrize("is_clf, text, kept, reasons", [
    (False, "Example 1\nInput: 2+2\nOutput: 4\nExample 2\nInput: 3+3\nOutput: 6", 2, []),
    (False, "Example 1\nInput: 2+2\nOutput: 4\nExample 2\nInput: 2+2\nOutput: 5", 0,
     ["instance:conflicting_outputs", "instance:conflicting_outputs", "instances:conflicting_outputs"]),
    (False, "nothing useful", 0, ["instances:no_instances"]),
    (True, "Class label: Positive\nSentence: I loved it.\nClass label: Negative\nSentence: Awful.", 2, []),
])
def test_instances_stage_answer(is_clf, text, kept, reasons):
    instruction = "Compute the sum." if not is_clf else "Classify the sentiment."
    state = RunState(pool=[instruction], labels={instruction: is_clf})
    stage = InstancesStage(state, endpoint="completions", max_instances=5)
    ask = stage.ask(instruction)
    assert ask.id == f"inst-{instruction_key(instruction)}" and ask.meta == {"stage": "instances"}
    assert (OUTPUT_FIRST_HEADER if is_clf else INPUT_FIRST_HEADER) in ask.prompt.text
    out = stage.answer(instruction, Answer(ask.id, text, "stop", usage={"total_tokens": 9}))
    (record,) = out.records
    assert record.kind == "instances" and record.key == instruction_key(instruction)
    assert len(record.data["instances"]) == kept and record.data["is_classification"] is is_clf
    assert record.data["instance_metadata"] == {"request_id": ask.id, "finish_reason": "stop",
                                                "usage": {"total_tokens": 9}}
    assert [r.counter for r in out.rejects] == reasons and out.reject_key == ask.id
    assert stage.done(instruction) and out.advances == [instruction]


def test_downstream_failures_are_request_failed_rejects_and_advance_nothing():
    state = RunState(pool=["Do it."], labels={"Do it.": False})
    for stage in (ClassifyStage(state, endpoint="completions"), InstancesStage(state, endpoint="completions")):
        ask = stage.ask("Do it.")
        out = stage.failed("Do it.", ask, "boom")
        assert out.records == [] and out.advances == [] and out.reject_key == ask.id
        assert out.rejects == [Reject(stage.name, "request_failed", "Do it.", {"error": "boom"})]
