"""Plausible inputs and outputs for a task instruction: what the synthetic LM writes for instance prompts.

Pure functions of the task text and a ``random.Random``. The content is shallow but
English and on-topic: labels come from the instruction, sums are computed, sorted
lists are sorted, and reviews match the sentiment label they are generated for.
"""

from __future__ import annotations

import random
import re


__all__ = ["is_classification", "needs_input", "labels_in", "topic_of", "input_first", "output_first"]

_CLS = re.compile(
    r"\b(classify|classif\w+|categori[sz]e|identify (?:whether|if)|detect (?:whether|if)|determine (?:whether|if)|"
    r"decide (?:whether|if)|tell (?:whether|if|me if)|is it|is the following|is this|label|which category|"
    r"sentiment|true or false|yes or no|spam)\b", re.IGNORECASE)
_INPUT = re.compile(
    r"\b(following|given|below|this (?:sentence|paragraph|text|article|review|list)|the (?:sentence|paragraph|"
    r"passage|text|list|review|email|input|article|tweet|notes|outline)|here is|based on the)\b", re.IGNORECASE)
_LABELS = re.compile(r"(?:as|categories:|is|level:|tone is|belong to:)\s+((?:[\w' -]+,\s+)*[\w' -]+?,?\s+or\s+[\w' -]+?)[.?]")
_TOPIC = re.compile(r"\b(?:about|of|on|for|explains|involves)\s+((?:the |a |an )?[\w' -]{3,40}?)(?:[.,?:;!]| in | to | and | so | with |$)")

SENTENCES = (
    "Many people underestimate how much {topic} shapes their daily routine.",
    "Last spring, a local group held a workshop on {topic} that drew more than {num} participants.",
    "Experts still disagree about the long-term effects of {topic}.",
    "My neighbor spent the whole weekend reading about {topic} instead of fixing the fence.",
    "Schools in several countries have started teaching the basics of {topic}.",
    "The documentary on {topic} surprised viewers with how much has changed in a decade.",
    "A recent survey found that {num} percent of adults want to learn more about {topic}.",
    "Critics argue that the debate about {topic} often ignores ordinary families.",
    "On Monday, the city council voted to fund a new project related to {topic}.",
    "She wrote her first article about {topic} while waiting for a delayed train.",
    "Understanding {topic} requires patience, curiosity and a few good questions.",
    "The museum opened a small exhibition on {topic} near the main entrance.",
)
REVIEWS = {
    "positive": ("I absolutely loved it; the staff were kind and everything arrived on time.",
                 "Best purchase I have made this year, and it works even better than advertised.",
                 "What a delightful evening! The food was fresh and the service was warm."),
    "negative": ("It broke after two days and nobody answered my complaint.",
                 "The room was dirty, the staff were rude, and I will not come back.",
                 "Terrible experience: the delivery was late and the box was damaged."),
    "neutral": ("The package arrived on Tuesday and the product matches the description.",
                "The restaurant is open until ten and serves pasta and salads.",
                "It does what it says; nothing more, nothing less."),
    "mixed": ("The screen is gorgeous, but the battery barely lasts a morning.",),
    "spam": ("Congratulations! You have won a free cruise. Click the link now to claim your prize.",
             "Earn $5,000 a week from home with no experience. Reply YES to start today!"),
    "not spam": ("Hi team, the meeting moved to 3 pm tomorrow; the agenda is below.",
                 "Thanks for your order. Your parcel will be delivered on Friday."),
    "true": ("Water boils at 100 degrees Celsius at sea level.", "The Earth orbits the Sun once a year.",
             "Spiders have eight legs."),
    "false": ("The Great Wall of China is visible from the Moon with the naked eye.",
              "Bats are completely blind.", "The Sun orbits the Earth once a day."),
    "fact": ("Paris is the capital of France.", "A week has seven days."),
    "opinion": ("Pineapple is the best pizza topping.", "Summer is more enjoyable than winter."),
    "formal": ("We would appreciate your response at your earliest convenience.",),
    "informal": ("hey, u coming to the party tonight or what?",),
    "question": ("Where did you leave the car keys?",), "command": ("Close the window before you leave.",),
    "statement": ("The train leaves at half past six.",),
    "sports": ("The home team scored twice in the final minute to win the cup.",),
    "politics": ("The senate passed the budget after a long night of negotiations.",),
    "technology": ("The company released a faster chip that uses half the power.",),
    "entertainment": ("The new musical sold out every show in its first week.",),
    "fruit": ("mango",), "vegetable": ("spinach",), "grain": ("barley",),
    "mammal": ("dolphin",), "bird": ("sparrow",), "reptile": ("iguana",), "fish": ("salmon",),
}
TRANSLATIONS = {
    "French": (("The weather is nice today.", "Il fait beau aujourd'hui."),
               ("I am reading a book.", "Je lis un livre."), ("Where is the bakery?", "Où est la boulangerie ?")),
    "Spanish": (("Where is the train station?", "¿Dónde está la estación de tren?"),
                ("I like to swim.", "Me gusta nadar."), ("The door is open.", "La puerta está abierta.")),
    "German": (("I would like a cup of coffee.", "Ich hätte gern eine Tasse Kaffee."),
               ("The children are playing.", "Die Kinder spielen."), ("It is cold today.", "Heute ist es kalt.")),
    "Italian": (("The museum opens at nine.", "Il museo apre alle nove."),
                ("We are hungry.", "Abbiamo fame."), ("The sea is calm.", "Il mare è calmo.")),
    "Portuguese": (("Thank you for your help.", "Obrigado pela sua ajuda."),
                   ("The bus is late.", "O ônibus está atrasado."), ("I love music.", "Eu amo música.")),
}


def is_classification(task: str) -> bool:
    return bool(_CLS.search(task))


def needs_input(task: str) -> bool:
    return bool(_INPUT.search(task)) or is_classification(task)


def labels_in(task: str) -> list[str]:
    """Class labels listed in the instruction ("as positive, negative or neutral"), else []."""
    low = task.lower()
    if "true or false" in low:
        return ["True", "False"]
    if "yes or no" in low:
        return ["Yes", "No"]
    m = _LABELS.search(task)
    if not m:
        return []
    parts = re.split(r",\s+or\s+|,\s+|\s+or\s+", m.group(1))
    labels = [p.strip() for p in parts if p.strip() and len(p.split()) <= 3]
    return [lab[0].upper() + lab[1:] for lab in labels] if len(labels) >= 2 else []


def topic_of(task: str) -> str:
    m = _TOPIC.search(task)
    if m:
        return m.group(1).strip()
    words = [w for w in re.findall(r"[A-Za-z][a-z]+", task) if len(w) > 5]
    return words[-1].lower() if words else "everyday life"


def _sentence(rng: random.Random, topic: str) -> str:
    return rng.choice(SENTENCES).format(topic=topic, num=rng.randint(12, 90))


def _text_for_label(rng: random.Random, label: str, topic: str) -> str:
    bank = REVIEWS.get(label.lower())
    if bank:
        return rng.choice(bank)
    return f"{_sentence(rng, topic)} Most readers would call it {label.lower()}."


def _numbers(rng: random.Random) -> list[int]:
    return [rng.randint(1, 99) for _ in range(rng.randint(4, 7))]


def _input_output(rng: random.Random, task: str, topic: str) -> tuple[str, str]:
    """One (input, output) pair for a non-classification task that takes an input."""
    low = task.lower()
    if "list of numbers" in low:
        nums = _numbers(rng)
        s = sorted(nums)
        mid = len(s) // 2
        median = s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
        stats = {"sum": sum(nums), "average": f"{sum(nums) / len(nums):.4g}", "median": f"{median:g}",
                 "largest": max(nums), "smallest": min(nums), "range": max(nums) - min(nums)}
        key = next((k for k in stats if k in low), "sum")
        return ", ".join(map(str, nums)), str(stats[key])
    if "celsius" in low:
        temps = [rng.randint(-10, 40) for _ in range(3)]
        return ", ".join(f"{t}°C" for t in temps), ", ".join(f"{t * 9 / 5 + 32:g}°F" for t in temps)
    if low.startswith("sort") or " sort " in low:
        words = rng.sample(("maple", "river", "lantern", "copper", "violet", "harbor", "pebble", "orchid"), 5)
        return ", ".join(words), ", ".join(sorted(words))
    if "translate" in low:
        lang = next((k for k in TRANSLATIONS if k.lower() in low), "French")
        return rng.choice(TRANSLATIONS[lang])
    if "dates" in low:
        return (f"The festival on {topic} starts on March {rng.randint(1, 28)}, {rng.randint(1990, 2024)} and "
                f"ends on April {rng.randint(1, 28)}.", "March and April dates as listed: the start and the end date.")
    if "python" in low:
        return ("def add(a, b):\n    return a - b", "def add(a, b):\n    return a + b")
    first, second = _sentence(rng, topic), _sentence(rng, topic)
    if any(w in low for w in ("summar", "title", "shorten", "one line", "one sentence")):
        return f"{first} {second}", f"A short look at {topic} and why it matters."
    if any(w in low for w in ("rewrite", "paraphrase", "polite", "formal", "correct", "grammar")):
        return first, "In other words, " + first[0].lower() + first[1:]
    if "question" in low:
        return f"{first} {second}", f"1. Why does {topic} matter?\n2. Who is affected most by {topic}?"
    return f"{first} {second}", f"The text mainly says that {first[0].lower() + first[1:]}"


def _direct_output(rng: random.Random, task: str, topic: str) -> str:
    """The answer to a task that needs no input."""
    low = task.lower()
    m = re.search(r"what is (\d+) multiplied by (\d+), minus (\d+)", low)
    if m:
        a, b, c = map(int, m.groups())
        return str(a * b - c)
    m = re.search(r"sells (\d+) notebooks for (\d+) dollars\. how much do (\d+)", low)
    if m:
        n, price, k = map(int, m.groups())
        return f"{price / n * k:.2f} dollars"
    if any(w in low for w in ("list", "tips", "names", "ways", "questions", "arguments", "bullet", "recommend")):
        return "\n".join(f"- {_sentence(rng, topic)}" for _ in range(rng.randint(3, 5)))
    if "python function" in low:
        return "def solve(items):\n    result = []\n    for item in items:\n        result.append(item)\n    return result"
    if any(w in low for w in ("poem", "haiku", "song", "limerick", "sonnet")):
        return f"Quiet mornings speak of {topic},\nsoft light on the window pane,\nwe learn, we lose, we try again."
    return " ".join(_sentence(rng, topic) for _ in range(rng.randint(2, 3)))


def input_first(rng: random.Random, task: str) -> str:
    """``Example 1\\nInput: ...\\nOutput: ...`` blocks, or a bare ``Output: ...`` for input-free tasks."""
    topic = topic_of(task)
    cls = is_classification(task)
    if not needs_input(task):
        return f"Output: {_direct_output(rng, task, topic)}"
    labels = labels_in(task) or (["Positive", "Negative"] if "sentiment" in task.lower() else ["Yes", "No"])
    pairs: list[tuple[str, str]] = []
    wanted = rng.randint(2, 5) if not cls else rng.randint(2, 4)
    for _ in range(wanted * 3):  # a small bank may repeat itself: keep distinct examples only
        if cls:
            label = rng.choice(labels)
            pair = (_text_for_label(rng, label, topic), label)
        else:
            pair = _input_output(rng, task, topic)
        if pair not in pairs:
            pairs.append(pair)
            if len(pairs) == wanted:
                break
    flaw = rng.random()
    if flaw < 0.02:
        pairs[0] = (pairs[0][0], pairs[0][0])  # output copies the input
    elif flaw < 0.04:
        pairs[-1] = (pairs[-1][0], "")  # empty output
    elif flaw < 0.055:
        pairs[0] = (pairs[0][0], pairs[0][1].rstrip(".") + ":")  # output ends with a colon
    elif flaw < 0.07:
        pairs.append(pairs[0])  # duplicate example
    elif flaw < 0.085 and len(pairs) > 1:
        pairs[1] = (pairs[0][0], pairs[1][1] + " (revised)")  # same input, different outputs
    return "\n\n".join(f"Example {i}\nInput: {inp}\nOutput: {out}" for i, (inp, out) in enumerate(pairs, 1))


def output_first(rng: random.Random, task: str) -> str:
    """``Class label: X\\nInput: ...`` pairs for a classification task (2-4 labels)."""
    topic = topic_of(task)
    labels = labels_in(task) or (["Positive", "Negative"] if "sentiment" in task.lower() else ["Yes", "No"])
    labels = labels[:4]
    lines = []
    for label in labels:
        lines.append(f"Class label: {label}\nInput: {_text_for_label(rng, label, topic)}")
    return "\n".join(lines)
