"""How one (instruction, input, output) example is rendered as chat messages, shared by export, training and prediction.

One definition, so a model is trained and evaluated on the same user-turn layout.
"""

from __future__ import annotations

__all__ = ["user_content", "to_messages"]


def user_content(instruction: str, input_text: str = "") -> str:
    """The user turn: the instruction, then a blank line and the input when there is one."""
    instruction = instruction.strip()
    input_text = (input_text or "").strip()
    return f"{instruction}\n\n{input_text}" if input_text else instruction


def to_messages(instruction: str, input_text: str, output: str) -> list[dict[str, str]]:
    """A two-turn conversation in the format trl's SFTTrainer reads (`messages`)."""
    return [
        {"role": "user", "content": user_content(instruction, input_text)},
        {"role": "assistant", "content": output.strip()},
    ]
