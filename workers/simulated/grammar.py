"""A combinatorial grammar of task instructions, plus the flawed items Self-Instruct's filters must catch.

Pure functions of a ``random.Random``: the same generator state gives the same
instruction. Variety comes from many sentence shapes (not only slot words), optional
openers and closing clauses, because ROUGE-L between two fills of one short template
is easily above the 0.7 the pipeline rejects.
"""

from __future__ import annotations

import random
import re

from workers.simulated import vocab as V

__all__ = ["make_instruction", "near_duplicate", "flawed_instruction", "PLAIN", "WITH_INPUT", "CLASSIFICATION"]

PLAIN = (
    "Write a {tone} {genre} about {topic}.",
    "Compose a {genre} for {audience} that explains {topic}.",
    "Explain {topic} to {audience} in {n} sentences.",
    "What are the {aspect} of {topic}?",
    "Give me {n} tips for {activity}.",
    "List {n} {thing}.",
    "How would you explain the {aspect} of {topic} to {audience}?",
    "Suggest {n} names for a podcast about {topic}.",
    "Compare {topic} and {topic2}: how are they similar, and how do they differ?",
    "Create a {num}-day plan for {activity}.",
    "Describe a typical day in the life of {role}.",
    "Why should {audience} care about {topic}?",
    "Come up with {n} interview questions for {role}.",
    "Pretend you are {role} and describe the hardest part of your job.",
    "If you had one hour to teach {topic}, what would you cover first and why?",
    "Summarize the history of {topic} in {n} bullet points.",
    "Write a quiz with {n} multiple-choice questions about {topic}.",
    "Write a Python function that {code}.",
    "Provide a step-by-step guide for {activity}.",
    "What would happen if {topic} suddenly disappeared from everyday life?",
    "Recommend {n} books for someone who is curious about {topic}.",
    "Tell me a joke that involves {topic}.",
    "Brainstorm {n} unusual ways to combine {topic} and {topic2}.",
    "Plan a {num}-day trip to {place} for {audience}.",
    "Estimate how many people in {place} are interested in {topic}, and show your reasoning.",
    "What is a common mistake people make when {activity}, and how can it be avoided?",
    "Invent a board game based on {topic} and explain its rules.",
    "Imagine {topic} in the year {year}. Describe what has changed.",
    "Argue that {topic} deserves more public attention than {topic2}.",
    "Which skills does {role} need, and how can they be learned?",
    "A store sells {num} notebooks for {price} dollars. How much do {num2} notebooks cost?",
    "What is {num} multiplied by {num2}, minus {num3}?",
    "Design a weekly workout routine for {audience} who has only {n} free hours.",
    "Explain the difference between {topic} and {topic2} using an analogy.",
    "Outline an essay about {topic} with an introduction, {n} body paragraphs and a conclusion.",
    "Write the opening line of a {genre} set in {place}.",
    "Give {n} arguments for and {n2} arguments against {topic}.",
    "I am {audience}. What should I know before {activity}?",
    "Share a {tone} piece of advice about {activity} in one sentence.",
    "How did {topic} change the way people live in {place}?",
)

WITH_INPUT = (
    "Rewrite the following sentence to make it {style}.",
    "Given a {text_type} about {topic}, {input_action}.",
    "Summarize the following {text_type} in {n} sentences.",
    "Translate the given {text_type} into {lang} and keep its {tone} tone.",
    "Correct the grammar mistakes in the following {text_type}.",
    "Read the {text_type} below and {input_action}.",
    "Convert the following {num} temperatures from Celsius to Fahrenheit for {audience}.",
    "Find the {stat} of the given list of numbers.",
    "Paraphrase the given {text_type} so that {audience} can follow it.",
    "Answer the question using only the information in the passage about {topic}.",
    "Suggest a catchy title for the following {text_type}.",
    "Fix the bug in the following Python function that {code}.",
    "Turn the following notes about {topic} into a {genre}.",
    "Given a list of ingredients, suggest a {tone} recipe that uses all of them.",
    "Extract all the dates mentioned in the following {text_type}.",
    "Here is a {text_type} written by {audience}; {input_action}.",
    "Based on the given {text_type}, write {n} follow-up questions.",
    "Expand the following outline into a {genre} about {topic}.",
    "Given two sentences about {topic}, combine them into one {style2} sentence.",
    "Sort the given {thing_short} from {sort_order}.",
)

CLASSIFICATION = (
    "Classify the sentiment of the following {item} as {sentiment}.",
    "Determine whether the given statement about {topic} is true or false.",
    "Decide if the following {item} is spam or not spam.",
    "Categorize the given {item} into one of these categories: {labels}.",
    "Identify whether the following sentence from a {text_type} is a question, a command or a statement.",
    "Is the following {item} {pair}?",
    "Given a {item}, tell whether its tone is {labels}.",
    "Which category does the given {item} belong to: {labels}?",
    "Detect whether the given {item} about {topic} expresses an opinion. Answer yes or no.",
    "Classify the following {item} by difficulty level: {difficulty}.",
    "Label the given {item} as {labels}.",
    "Read the {item} and decide whether it is {pair}.",
)

_SLOT = re.compile(r"\{(\w+)\}")
_STATS = ("sum", "average", "median", "largest value", "smallest value", "range")
_SENTIMENT = (("positive", "negative", "neutral"), ("positive", "negative"), ("positive", "negative", "mixed"))
_DIFFICULTY = (("easy", "medium", "hard"), ("beginner", "intermediate", "advanced"))


def _join_labels(rng: random.Random, labels: tuple[str, ...]) -> str:
    if len(labels) == 2:
        return f"{labels[0]} or {labels[1]}"
    sep = ", or " if rng.random() < 0.3 else " or "
    return ", ".join(labels[:-1]) + sep + labels[-1]


def _fill(rng: random.Random, template: str) -> str:
    ch = rng.choice
    values: dict[str, str] = {}
    for name in _SLOT.findall(template):
        if name in values:
            continue
        if name == "topic2":
            v = ch(V.TOPICS)
            while v == values.get("topic"):
                v = ch(V.TOPICS)
        elif name in ("n", "n2"):
            v = ch(V.NUMBER_WORDS)
        elif name in ("num", "num2", "num3"):
            v = str(rng.randint(2, 40))
        elif name == "price":
            v = str(rng.randint(3, 90))
        elif name == "year":
            v = str(rng.randint(2030, 2300))
        elif name == "labels":
            v = _join_labels(rng, ch(V.LABEL_SETS))
        elif name == "pair":
            a, b = rng.sample(ch(V.LABEL_SETS), 2)
            v = f"{a} or {b}"
        elif name == "sentiment":
            v = _join_labels(rng, ch(_SENTIMENT))
        elif name == "difficulty":
            v = _join_labels(rng, ch(_DIFFICULTY))
        elif name == "thing_short":
            v = ch(("words", "cities", "animals", "dates", "names", "numbers", "countries", "planets"))
        elif name == "sort_order":
            v = ch(("A to Z", "Z to A", "shortest to longest", "oldest to newest", "smallest to largest"))
        elif name == "stat":
            v = ch(_STATS)
        elif name == "style2":
            v = ch(V.STYLES).replace("sound ", "")
        else:
            v = ch(_POOLS[name])
        values[name] = v
    return template.format(**values)


_POOLS = {
    "topic": V.TOPICS, "audience": V.AUDIENCES, "genre": V.GENRES, "tone": V.TONES, "activity": V.ACTIVITIES,
    "aspect": V.ASPECTS, "thing": V.THINGS, "place": V.PLACES, "role": V.ROLES, "code": V.CODE_TASKS,
    "lang": V.LANGUAGES, "text_type": V.TEXT_TYPES, "input_action": V.INPUT_ACTIONS, "style": V.STYLES,
    "item": V.CLASSIFIED_ITEMS,
}


_IMPERATIVES = frozenset(
    "Write Compose Explain Give List Suggest Create Describe Summarize Provide Recommend Tell Brainstorm Plan "
    "Invent Design Outline Rewrite Translate Correct Read Convert Find Paraphrase Answer Fix Turn Extract "
    "Expand Sort Classify Determine Decide Categorize Identify Label Detect Share Argue Estimate".split())


def _decorate(rng: random.Random, text: str) -> str:
    """Optional opener and closing clause: varies sentence structure beyond slot words."""
    r = rng.random()
    if r < 0.18 and text.split(" ", 1)[0] in _IMPERATIVES:
        opener = rng.choice(V.OPENERS)
        text = opener + text[0].lower() + text[1:]
        if opener in ("Can you ", "Could you ") and text.endswith("."):
            text = text[:-1] + "?"
    if rng.random() < 0.3:
        text += rng.choice(V.SUFFIXES).format(n=rng.choice((30, 50, 80, 100, 150)))
    return text


def make_instruction(rng: random.Random, *, p_classification: float = 0.2, p_input: float = 0.3) -> str:
    """One well-formed instruction: classification, needing an input, or self-contained."""
    r = rng.random()
    if r < p_classification:
        pool = CLASSIFICATION
    elif r < p_classification + p_input:
        pool = WITH_INPUT
    else:
        pool = PLAIN
    return _decorate(rng, _fill(rng, rng.choice(pool)))


def near_duplicate(rng: random.Random, source: str) -> str:
    """A light edit of ``source``: what the ROUGE-L filter exists to catch."""
    words = source.split()
    how = rng.randrange(5)
    if how == 0 and len(words) > 3:
        return "Please " + source[0].lower() + source[1:]
    if how == 1 and len(words) > 4:
        i = rng.randrange(1, len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
        return " ".join(words)
    if how == 2 and len(words) > 5:
        del words[rng.randrange(1, len(words) - 1)]
        return " ".join(words)
    if how == 3:
        return source.rstrip(".?!") + (" briefly." if source.endswith(".") else " in short?")
    return source.rstrip(".?!") + "."


def flawed_instruction(rng: random.Random, kind: str, seen: list[str]) -> str:
    """An instruction the pipeline's filters should reject; ``kind`` picks which filter."""
    fmt = {"topic": rng.choice(V.TOPICS), "topic2": rng.choice(V.TOPICS), "place": rng.choice(V.PLACES),
           "audience": rng.choice(V.AUDIENCES), "thing": rng.choice(V.THINGS), "n": rng.choice(V.NUMBER_WORDS),
           "activity": rng.choice(V.ACTIVITIES)}
    if kind == "near_duplicate" and seen:
        return near_duplicate(rng, rng.choice(seen))
    if kind == "blacklist":
        return rng.choice(V.BLACKLISTED_TASKS).format(**fmt)
    if kind == "program":
        return f"Write a program that {rng.choice(V.CODE_TASKS)}."
    if kind == "short":
        return rng.choice(V.SHORT_TASKS)
    if kind == "bad_start":
        return rng.choice(V.BAD_START_TASKS).format(**fmt)
    # "long": a run-on instruction far above the 150-word limit.
    parts = [make_instruction(rng).rstrip(".?!")]
    while sum(len(p.split()) for p in parts) < 170:
        parts.append(f"{rng.choice(V.FILLER)} {rng.choice(V.TOPICS)} {rng.choice(V.FILLER)} {rng.choice(V.ACTIVITIES)}")
    return " ".join(parts) + "."
