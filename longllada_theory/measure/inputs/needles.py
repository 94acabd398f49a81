"""Needle-in-a-haystack prompts: needles, the prompt layout and the NeedleBench score (haystack text comes from
:mod:`.texts`).

A prompt of ``length`` tokens (in the model's own tokenizer) is laid out as the template says —
``{context}`` is the haystack with the needle inserted at ``depth`` percent of it — and ends with the answer's
prefix, so base models complete it (as LongLLaDA's modified NeedleBench does). The same builder makes the toy
twins' passkey rows, for training and for evaluation.

Score (NeedleBench "origin", OpenCompass): 100 when the key phrase occurs in the answer, otherwise
0.2 × 100 × (1 − Levenshtein(answer, reference) / max length), with white space removed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...errors import LongLLaDAError
from ...files import read_text
from ...models.tokenizers import Tokenizer
from ...registry import Registry


@dataclass(frozen=True)
class Needle:
    """One fact to hide and the question that asks for it."""

    needle: str          # the sentence inserted into the haystack
    question: str        # asked after the haystack
    answer_prefix: str   # the prompt ends with it; the model completes the answer
    keyword: str         # the key phrase a correct answer contains
    reference: str = ""  # the full expected answer (for the Levenshtein part of the score)

    def __post_init__(self):
        if not self.keyword or self.keyword not in self.needle:
            raise LongLLaDAError(f"the key phrase {self.keyword!r} does not occur in the needle {self.needle!r}; "
                                 "an answer can only be scored on a key phrase the needle states")

    @property
    def expected(self) -> str:
        return self.reference or f"{self.answer_prefix} {self.keyword}"


#: Built-in English needles (written for this package; NeedleBench's own are read from a file with --needles).
BUILTIN_NEEDLES: tuple[Needle, ...] = (
    Needle("The secret ingredient in Grandma Rosa's tomato soup is smoked paprika.",
           "What is the secret ingredient in Grandma Rosa's tomato soup?",
           "The secret ingredient in Grandma Rosa's tomato soup is", "smoked paprika"),
    Needle("The lighthouse on Pelican Point was painted emerald green in 1952.",
           "What colour was the lighthouse on Pelican Point painted in 1952?",
           "In 1952 the lighthouse on Pelican Point was painted", "emerald green"),
    Needle("The winning horse of the first Lunar Derby was named Silver Comet.",
           "What was the name of the winning horse of the first Lunar Derby?",
           "The winning horse of the first Lunar Derby was named", "Silver Comet"),
    Needle("Professor Okafor keeps her spare laboratory key inside a hollow copy of Moby Dick.",
           "Where does Professor Okafor keep her spare laboratory key?",
           "Professor Okafor keeps her spare laboratory key inside", "a hollow copy of Moby Dick"),
    Needle("The password to the old observatory is blue-harbor-seventeen.",
           "What is the password to the old observatory?",
           "The password to the old observatory is", "blue-harbor-seventeen"),
)

def passkey_needle(rng: random.Random) -> Needle:
    """A 5-digit pass key (first digit non-zero), the toy twins' retrieval task."""
    key = str(rng.randint(10000, 99999))
    return Needle(f"The pass key is {key}.", "What is the pass key?", "The pass key is", key)


@dataclass(frozen=True)
class PromptFormat:
    """Where the haystack, question and answer prefix go. ``template`` has {context}, {question}, {answer_prefix}."""

    name: str
    template: str


FORMATS: Registry[PromptFormat] = Registry("formats", "prompt format", {
    # NeedleBench "origin" English layout, ending with the answer prefix so base models complete it.
    "needlebench": PromptFormat(
        "needlebench",
        "You are an intelligent AI assistant skilled in answering user questions.\n"
        "Please keep your answers concise and clear. Do not talk about irrelevant topics or repeat your answers.\n"
        "The document given to you by the user is {context}\n\n"
        "Now, the question is: {question} Before answering, please consider what in the document is most relevant "
        "to this question. {answer_prefix}"),
    # minimal layout for base models and the toy twins
    "plain": PromptFormat("plain", "{context}\n{question} {answer_prefix}"),
})


FORMAT_MARK = "Please answer in the format"


def needle_records(path: str | Path, language: str, read: Callable[[dict], object], expected: str,
                   missing: str = "NeedleBench-style JSONL expected") -> list:
    """``read(row)`` for each row of a needles JSONL file in ``language`` (``read`` returns None to skip a row); a
    row that is not JSON or that ``read`` cannot use is named with its line and what ``expected`` says it needs."""
    path = Path(path)
    if not path.exists():
        raise LongLLaDAError(f"needles file {path} does not exist ({missing})", parameters=("needles",))
    records = []
    for number, line in enumerate(read_text(path, "needles file").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = read(json.loads(line))
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as error:
            raise LongLLaDAError(f"{path}, line {number}: {expected}: {error}", parameters=("needles",)) from None
        except LongLLaDAError as error:
            raise LongLLaDAError(f"{path}, line {number}: {error}", parameters=("needles",)) from None
        if record is not None:
            records.append(record)
    if not records:
        raise LongLLaDAError(f"{path} has no {language} needles", parameters=("needles",))
    return records


def load_needles(path: str | Path | None, language: str = "English") -> list[Needle]:
    """Needles from a NeedleBench-style JSONL file (needle, retrieval_question, arg2, gold_standard_answer,
    language), or the built-in English set when ``path`` is None."""
    if path is None:
        return list(BUILTIN_NEEDLES)

    def read(row: dict) -> Needle | None:
        if row.get("language", language) != language:
            return None
        template = row["retrieval_question"].split(FORMAT_MARK)
        prefix = template[1].strip(" '.") if len(template) > 1 else ""
        prefix = prefix.split("_")[0].strip() or "Answer:"
        return Needle(row["needle"], template[0].strip(), prefix, row["arg2"], row.get("gold_standard_answer", ""))

    return needle_records(path, language, read, "not a needle record (needs needle, retrieval_question, arg2)")


@dataclass(frozen=True)
class NeedlePrompt:
    ids: list[int]            # the whole prompt, ending with the answer prefix
    needle_start: int         # token index where the needle begins
    needle_end: int           # token index one past the needle

    @property
    def distance(self) -> int:
        """Tokens between the end of the needle and the end of the prompt (where the answer starts)."""
        return len(self.ids) - self.needle_end


def build_prompt(tokenizer: Tokenizer, haystack_ids: Sequence[int], needle: Needle, length: int, depth: float,
                 fmt: PromptFormat = FORMATS["plain"]) -> NeedlePrompt:
    """A prompt of exactly ``length`` tokens with the needle at ``depth`` percent (0–100) of the haystack part.

    The haystack is repeated if it is too short. Pieces are tokenised separately and concatenated, so the needle's
    token span is exact.
    """
    if not 0 <= depth <= 100:
        raise LongLLaDAError(f"depth {depth} must be a percentage from 0 to 100")
    before, after = fmt.template.split("{context}")
    head = tokenizer.encode(before) if before else []
    tail = tokenizer.encode(after.format(question=needle.question, answer_prefix=needle.answer_prefix))
    needle_ids = tokenizer.encode("\n" + needle.needle + "\n")
    budget = length - len(head) - len(tail) - len(needle_ids)
    if budget < 0:
        raise LongLLaDAError(f"length {length} is too short for the prompt: the template, question and needle alone "
                             f"take {length - budget} tokens")
    if not haystack_ids:
        raise LongLLaDAError("the haystack is empty")
    repeats = -(-budget // len(haystack_ids))
    filler = (list(haystack_ids) * max(1, repeats))[:budget]
    at = int(budget * depth / 100)
    ids = head + filler[:at] + needle_ids + filler[at:] + tail
    start = len(head) + at
    return NeedlePrompt(ids, start, start + len(needle_ids))


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), O(len(a)·len(b))."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def needle_score(answer: str, needle: Needle) -> float:
    """NeedleBench "origin" score, 0–100: 100 if the key phrase is in the answer, else 0.2 × Levenshtein similarity
    (in percent) between the answer and the expected answer, white space removed."""
    if needle.keyword in answer:
        return 100.0
    pred = "".join(answer.split())
    ref = "".join(needle.expected.split())
    longest = max(len(pred), len(ref))
    similarity = 1 - levenshtein(pred, ref) / longest if longest else 1.0
    return 0.2 * 100 * similarity
