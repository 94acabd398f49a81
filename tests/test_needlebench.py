"""`--protocol paper` builds NeedleBench "origin" prompts as LongLLaDA's OpenCompass run did: the guided question,
documents shuffled and a needle chosen per repeat by Python's random seeded with the repeat, the haystack cut to
length − 600 − needle tokens, the needle at int(tokens · depth / 100), scored against the needle sentence."""

import json
import random
import subprocess
import sys

import pytest

from longllada_theory import LongLLaDAError
from longllada_theory.measure.inputs.needles import needle_score
from longllada_theory.measure.protocols.needlebench import (
    LENGTH_BUFFER,
    guided_question,
    needle_rows,
    paper_prompt,
    repeat,
)
from longllada_theory.measure.protocols.niah import NiahSettings

QUESTION = ("Which band was the first to perform on the Moon? Please answer in the format 'The first band to perform "
            "on the the Moon was________.'")


class Characters:
    """One token per character, so lengths and positions can be checked by hand."""

    def encode(self, text):
        return [ord(c) for c in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids)


def rows(tmp_path, count=5):
    path = tmp_path / "needles.jsonl"
    lines = [{"needle": f"The code word number {i} is Falcon{i}.", "arg2": f"Falcon{i}", "language": "English",
              "retrieval_question": f"What is code word {i}? Please answer in the format 'The code word is________.'"}
             for i in range(count)]
    lines.insert(2, {**lines[0], "language": "Chinese"})
    path.write_text("\n".join(json.dumps(line) for line in lines))
    return needle_rows(path)


def test_the_question_is_guided_and_cut_to_the_answers_opening_words():
    assert guided_question(QUESTION) == (
        "Which band was the first to perform on the Moon? Before answering, please consider what in the document is "
        "most relevant to this question. The first band to perform on the the Moon was")


def test_each_repeat_shuffles_the_documents_again_and_draws_its_needle_as_opencompass_does(tmp_path):
    english = rows(tmp_path)
    assert len(english) == 5 and all(r["language"] == "English" for r in english)
    documents = [f"document {i}. " * 3 for i in range(12)]
    order = list(documents)
    for index in range(4):  # OpenCompass: random.seed(counter); random.shuffle(lines) on the same list each repeat
        random.seed(index)
        random.shuffle(order)
        random.seed(index)
        expected_row = random.choice(english)
        chosen = repeat(documents, english, index)
        assert chosen.documents == order and chosen.needle.keyword == expected_row["arg2"]


def test_the_prompt_leaves_the_length_buffer_and_puts_the_needle_at_its_depth(tmp_path):
    needle = repeat([], rows(tmp_path), 0).needle
    documents = ["a" * 300, "b" * 300, "c" * 900]
    length, depth = 1200, 25
    prompt = paper_prompt(Characters(), documents, needle, length, depth)
    haystack = length - LENGTH_BUFFER - len(needle.reference)                 # 600 − needle characters
    context = prompt.text.split("The document given to you by the user is ")[1].split("\n\nNow, the question")[0]
    assert len(context) == haystack + len(needle.reference)
    at = int(haystack * depth / 100)
    assert context[at:at + len(needle.reference)] == needle.reference
    assert context[:at] == "a" * at and context.endswith("b" * (haystack - 300))
    assert prompt.text.endswith("Now, the question is: " + needle.question)
    assert prompt.distance_text.startswith(context[at + len(needle.reference):])
    with pytest.raises(LongLLaDAError, match="fewer than"):
        paper_prompt(Characters(), ["short"], needle, length, depth)


def test_answers_are_scored_against_the_needle_sentence(tmp_path):
    needle = repeat([], rows(tmp_path), 0).needle
    assert needle_score(f"it is {needle.keyword}!", needle) == 100
    assert needle.question.endswith("this question. The code word is")
    # "Thecodewordnumber3is." against "Thecodewordnumber3isFalcon3.": 7 edits in 28 characters → 0.2 × 75
    assert needle_score(needle.needle.replace(needle.keyword, ""), needle) == pytest.approx(15)


def test_the_paper_protocol_needs_needlebench_needles_and_asks_ten_repeats():
    with pytest.raises(LongLLaDAError, match="needles.jsonl"):
        NiahSettings(protocol="paper")
    assert NiahSettings(protocol="paper", needles="n.jsonl").needles_per_cell == 10
    assert NiahSettings().needles_per_cell == 1


def test_a_paper_protocol_run_through_the_cli(tmp_path):
    needles = tmp_path / "needles.jsonl"
    rows(tmp_path)
    haystack = tmp_path / "haystack.jsonl"
    haystack.write_text("\n".join(json.dumps({"text": f"Essay {i}. " + "Words fill the page. " * 40})
                                  for i in range(6)))
    output = tmp_path / "niah.jsonl"
    result = subprocess.run([sys.executable, "-m", "longllada_theory.cli", "niah", "toy:ar", "--protocol", "paper",
                             "--lengths", "900", "--depths", "0,100", "--needles-per-cell", "2", "--needles",
                             str(needles), "--haystack", str(haystack), "--answer-length", "8", "--device", "cpu",
                             "--no-progress", "--output", str(output)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert lines[0]["settings"]["protocol"] == "paper" and len(lines) == 1 + 2 * 2
    assert {line["keyword"] for line in lines[1:]} <= {f"Falcon{i}" for i in range(5)}
