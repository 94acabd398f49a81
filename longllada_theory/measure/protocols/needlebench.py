"""NeedleBench "origin" (English) as LongLLaDA ran it (``--protocol paper`` of the ``niah`` measurement).

The steps of OpenCompass's ``NeedleBenchOriginDataset`` with the settings of LongLLaDA's ``needlebench_single.py``
(length buffer 600, 10 repeats per length × depth, guided question, question at the end), read from their public
code:

1. Repeat r of a cell: Python's ``random.seed(r)`` shuffles the haystack documents (the same list, shuffled again
   for every repeat in turn) and picks the needle row (``random.choice`` over the file's English rows).
2. The documents' tokens are joined from their starts until there are length − 600 − (needle tokens) of them, and
   cut there; the needle, with a newline on each side, goes in at ``int(tokens · depth / 100)``; the tokens are
   decoded back to text.
3. The prompt is the NeedleBench template around that text, with the question guided ("Before answering, please
   consider …") and its answer format cut to the answer's opening words, which the model completes.
4. Score: 100 when the answer contains the key phrase (``arg2``), else 0.2 × the Levenshtein similarity (in %)
   between the answer and the needle sentence, white space removed.

What differs here, and why: the paper counts tokens with gpt-4's tiktoken encoding, which cannot be loaded offline —
the model's own tokenizer counts them; LongLLaDA's haystack file is ``en_un_asr.jsonl`` — any JSONL documents can be
given (``--haystack``); no chat template is applied.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ...errors import LongLLaDAError
from ...models.tokenizers import Tokenizer
from ..inputs.needles import FORMAT_MARK, Needle, needle_records

LENGTH_BUFFER = 600
REPEATS = 10
TEMPLATE = ("You are an intelligent AI assistant skilled in answering user questions.\n"
            "Please keep your answers concise and clear. Do not talk about irrelevant topics or repeat your answers.\n"
            "The document given to you by the user is {context}\n\nNow, the question is: {question}")
GUIDE = "Before answering, please consider what in the document is most relevant to this question. "


def needle_rows(path: str | Path, language: str = "English") -> list[dict]:
    """The rows of a NeedleBench ``needles.jsonl`` in ``language``, in file order (the list a repeat draws from)."""
    def read(row: dict) -> dict | None:
        if row["language"] != language:
            return None
        if FORMAT_MARK not in row["retrieval_question"]:
            raise KeyError("retrieval_question without an answer format")
        return row

    return needle_records(path, language, read, f"not a NeedleBench needle (needs needle, retrieval_question with "
                          f"{FORMAT_MARK!r}, arg2, language)", missing="--protocol paper needs NeedleBench's "
                          "needles.jsonl")


def guided_question(question: str) -> str:
    """The question as the prompt asks it: the guide inserted before the answer format, and the format cut to the
    answer's opening words (OpenCompass drops the format's opening and its last 10 characters, the blank and
    closing quote)."""
    before, after = question.split(FORMAT_MARK, 1)
    return (before + GUIDE + FORMAT_MARK + after).replace(FORMAT_MARK + " '", "")[:-10]


@dataclass(frozen=True)
class Repeat:
    """What repeat r of every cell uses: the documents in their shuffled order and the needle."""

    documents: list[str]
    needle: Needle


def repeat(documents: Sequence[str], rows: list[dict], index: int) -> Repeat:
    """Repeat ``index``'s documents and needle (steps 1 of the module docstring): the shuffles of repeats 0 … index
    applied in turn, each seeded by its repeat, and the needle row that ``random.seed(index)`` chooses."""
    order = list(documents)
    for r in range(index + 1):
        random.Random(r).shuffle(order)
    row = random.Random(index).choice(rows)
    needle = Needle(row["needle"], guided_question(row["retrieval_question"]), "", row["arg2"],
                    reference="\n" + row["needle"] + "\n")
    return Repeat(order, needle)


@dataclass(frozen=True)
class PaperPrompt:
    text: str            # the whole prompt
    distance_text: str   # what follows the needle (its tokens are the needle's distance from the answer)


def paper_prompt(tokenizer: Tokenizer, documents: Sequence[str], needle: Needle, length: int,
                 depth: float) -> PaperPrompt:
    """The prompt of one cell (steps 2–3 of the module docstring), in the model's tokenizer."""
    needle_ids = tokenizer.encode(needle.reference)
    target = max(length - LENGTH_BUFFER - len(needle_ids), 0)
    tokens: list[int] = []
    for document in documents:
        tokens += tokenizer.encode(document)
        if len(tokens) >= target:
            break
    if len(tokens) < target:
        raise LongLLaDAError(f"the haystack has {len(tokens)} tokens, fewer than the {target} a {length}-token "
                             "NeedleBench prompt needs", parameters=("haystack",))
    tokens = tokens[:target]
    at = int(len(tokens) * depth / 100)
    context = tokenizer.decode(tokens[:at] + needle_ids + tokens[at:])
    after = tokenizer.decode(tokens[at:])
    return PaperPrompt(TEMPLATE.format(context=context, question=needle.question),
                       after + TEMPLATE.split("{context}")[1].format(question=needle.question))
