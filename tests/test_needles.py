"""NIAH prompts, needles and the NeedleBench score."""

import json
import random

import pytest

from longllada_theory import LongLLaDAError
from longllada_theory.measure.inputs.needles import (
    BUILTIN_NEEDLES,
    FORMATS,
    build_prompt,
    levenshtein,
    load_needles,
    needle_score,
    passkey_needle,
)
from longllada_theory.measure.inputs.texts import load_text
from longllada_theory.models.tokenizers import ByteTokenizer


@pytest.mark.parametrize("depth", [0, 25, 50, 100])
def test_prompt_has_the_exact_length_and_the_needle_at_its_depth(depth):
    tok = ByteTokenizer()
    haystack = tok.encode(load_text("builtin:noise"))
    needle = BUILTIN_NEEDLES[0]
    prompt = build_prompt(tok, haystack, needle, 1000, depth, FORMATS["needlebench"])
    assert len(prompt.ids) == 1000
    text = tok.decode(prompt.ids)
    assert tok.decode(prompt.ids[prompt.needle_start:prompt.needle_end]) == "\n" + needle.needle + "\n"
    assert text.endswith(needle.answer_prefix)
    head = len(tok.encode(FORMATS["needlebench"].template.split("{context}")[0]))
    budget = prompt.needle_start - head + (len(prompt.ids) - prompt.needle_end) - len(
        tok.encode(FORMATS["needlebench"].template.split("{context}")[1].format(question=needle.question,
                                                                                 answer_prefix=needle.answer_prefix)))
    assert prompt.needle_start - head == int(budget * depth / 100)


def test_needle_distance_shrinks_with_depth():
    tok = ByteTokenizer()
    distances = [build_prompt(tok, tok.encode("abc. "), BUILTIN_NEEDLES[1], 500, d).distance for d in (0, 50, 100)]
    assert distances[0] > distances[1] > distances[2] > 0


def test_too_short_length_and_bad_depth_are_refused():
    tok = ByteTokenizer()
    with pytest.raises(LongLLaDAError, match="too short"):
        build_prompt(tok, tok.encode("abc"), BUILTIN_NEEDLES[0], 20, 50)
    with pytest.raises(LongLLaDAError, match="percentage"):
        build_prompt(tok, tok.encode("abc"), BUILTIN_NEEDLES[0], 500, 120)


def test_needlebench_score():
    needle = BUILTIN_NEEDLES[2]
    assert needle_score(" Silver Comet, a grey horse.", needle) == 100.0
    miss = needle_score(" Golden Arrow.", needle)
    assert 0 < miss < 20  # 0.2 × similarity
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3


def test_passkey_needles_are_five_digits_and_seeded():
    a, b = passkey_needle(random.Random(1)), passkey_needle(random.Random(1))
    assert a == b and len(a.keyword) == 5 and a.keyword in a.needle


def test_needlebench_file_is_read_in_english(shared_data):
    needles = load_needles(shared_data / "needles.jsonl")
    assert len(needles) > 50
    assert all(n.answer_prefix and n.keyword for n in needles)
    assert needles[0].answer_prefix.startswith("The first band to perform on the")


def test_bad_needle_and_text_files(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"needle": "x"}\n')
    with pytest.raises(LongLLaDAError, match="line 1"):
        load_needles(tmp_path / "bad.jsonl")
    with pytest.raises(LongLLaDAError, match="does not exist"):
        load_needles(tmp_path / "missing.jsonl")
    (tmp_path / "unscorable.jsonl").write_text(json.dumps({"needle": "The cat is black.", "arg2": "white",
                                                           "retrieval_question": "What colour is the cat?"}) + "\n")
    with pytest.raises(LongLLaDAError, match="line 1: the key phrase 'white' does not occur in the needle"):
        load_needles(tmp_path / "unscorable.jsonl")
    (tmp_path / "t.jsonl").write_text('{"body": "hello"}\n')
    with pytest.raises(LongLLaDAError, match="'text' field"):
        load_text(tmp_path / "t.jsonl")
    assert load_text(tmp_path / "t.jsonl", field="body") == "hello"
    with pytest.raises(LongLLaDAError, match="unknown built-in"):
        load_text("builtin:poems")
