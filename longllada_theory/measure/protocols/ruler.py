"""RULER (Hsieh et al. 2024, arXiv 2404.06654; the paper's Table 2 ran it) generated offline, with no download: the
``ruler`` measurement.

Tasks, as RULER's task configuration defines them (``scripts/synthetic.yaml`` of NVIDIA/RULER):

- NIAH (group NIAH): ``niah_single_1`` (repeated noise, word key, 7-digit value), ``niah_single_2`` (essay haystack),
  ``niah_single_3`` (essay, UUID value), ``niah_multikey_1`` (4 keys in an essay), ``niah_multikey_2`` (the haystack
  is other needles), ``niah_multikey_3`` (needle haystack, UUID keys and values), ``niah_multivalue`` (4 values for
  the key), ``niah_multiquery`` (4 keys asked);
- ``vt`` (group VT): a chain of 4 variable assignments in noise, every variable holding the value asked;
- ``cwe`` and ``fwe`` (group AGG): the 10 most common words of a numbered list, the 3 most frequent coded words of a
  Zipf (α = 2) text;
- ``qa`` (group QA): a generated fact (a fictional island's capital) among generated distractor documents.

Each prompt is RULER's template and answer prefix (``scripts/data/synthetic/constants.py``) around the largest
haystack that fits the prompt budget (binary search over the haystack size, per sample, in the model's own tokens).
Scores, 0–100 as RULER's: ``string_match_all`` (the share of the expected strings found in the answer,
case-insensitive) and, for QA, ``string_match_part`` (any of them).

Three generations (``--protocol``; :class:`Rules` holds each one's rules):

- ``ruler`` — NVIDIA RULER's generation (NVIDIA/RULER, ``scripts/data/synthetic/``, read at c3f5e3b). CWE
  (``common_words_extraction.py``, ``num_fewshot=1``) puts one example before the real prompt: the template around an
  example list, its answer prefix, a blank, its 10 words numbered, a newline. Below 4096 tokens (RULER's
  ``max_seq_length``: the run's length) the example has 20 words, 10 common ones 3 times and 10 once, and the real
  list repeats its 10 common words 6 times and the others once; from 4096 on, 40 words at 10 and 3, and 30 and 3.
  FWE (``freq_words_extraction.py``) draws exactly (length − 50) // 50 distinct coded words (RULER's
  ``max_seq_length // 50`` after it takes off the 50 tokens FWE generates) and sizes its text from budget // 6 words
  in steps of budget // 32. NIAH (``niah.py``) puts the needle of a noise or needle haystack at an index drawn
  uniformly from the haystack's sentences (``random.sample(range(num_haystack), …)``); in an essay it stays on
  RULER's 40 depths, as RULER places it. Lists, coded vocabularies and needles are shuffled with a fresh
  ``random.Random(42)`` (RULER's ``random_seed``), so every sample of one size shares an order, as in RULER. The
  prompt leaves room for the task's ``tokens_to_generate`` (``constants.py``: NIAH 128, VT 30, CWE 120, FWE 50, QA
  32), not ``--answer-length``.
- ``paper`` — OpenCompass's RULER as LongLLaDA ran it (lxr-tech/LongLLaDA ``eval/eval_llada_ruler.py`` runs
  open-compass/opencompass ``opencompass/configs/datasets/ruler/ruler_{4k,8k,16k}_gen.py`` on the generators of
  ``opencompass/datasets/ruler/ruler_{niah,vt,cwe,fwe,qa}.py``): ``ruler``'s rules with OpenCompass's changes — 100
  samples per task and length (``NUM_SAMPLES``); the CWE example's answer follows its prefix with no blank; FWE's
  vocabulary is length // 50 words and its text fills the whole length (no room kept for its 50 tokens); QA keeps
  50 tokens; haystack sizes on OpenCompass's search steps (``incremental``: essay 500 words, noise or needle haystack
  25 sentences — 5 below 4096 —, VT, CWE and QA 10; FWE as RULER; below the first step, the largest size that fits);
  essay sentences split at ". ", which drops their full stops.
- ``package`` (the default, and what every stored run used) — the package's own variants: no CWE example; CWE
  repeats 30 and 3 when its list has more than 100 distinct words, else 6 and 1, whatever the length; CWE words from
  the package's 328 English words, then from its adjective+noun compounds once the list outgrows them (past about 4k
  tokens), so the task changes with length; FWE on 400 coded-word draws; needles on the 40 depths in every haystack;
  the prompt leaves ``--answer-length`` tokens for the answer in every task.

What none of them reproduces (each run's summary lists it for its protocol): the words — RULER and OpenCompass draw
NIAH keys and CWE words from the ``wonderwords`` package (and RULER from a randle English word list past it), which
need a download; here NIAH keys are the package's adjective-noun pairs and CWE (``ruler``, ``paper``) draws from one
pool of 16,696 words at every length (the 328 English words and 16,368 compounds); QA is the generated stand-in for
SQuAD and HotpotQA (one task instead of RULER's two, so Avg is over 12 tasks, RULER's 13); VT has no one-shot example
(RULER prepends one; OpenCompass does not) and keeps its assignments on their own lines (OpenCompass joins them into
the noise with blanks); ``ruler`` and ``package`` split essay sentences by a regular expression (RULER: nltk's
``sent_tokenize``); the haystack size is searched for each sample (the references search once per task and length and
shrink it for a sample that does not fit); the answer is ``--answer-length`` tokens for every task (RULER generates
``tokens_to_generate``; LongLLaDA generated 64, as the default here); ``paper`` counts tokens with the model's
tokenizer, not gpt-4's tiktoken encoding (OpenCompass's ``tokenizer_model`` when ``TOKENIZER_MODEL`` is unset, as in
LongLLaDA's script), which cannot be loaded offline, repeats the essay past its end (OpenCompass stops there) and does
not count the answer's tokens in the first size search (OpenCompass does).
"""

from __future__ import annotations

import random
import re
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ...errors import LongLLaDAError
from ...lengths import format_length
from ...reference import TABLE2_GROUPS, Reference, table2_frame
from ...registry import Registry
from ...values import Length, Listing, Whole
from ..inputs.texts import NOISE, load_text
from ..protocol import Protocol, option, register_protocol
from ..results import cell_seed
from ..sampling import SamplerSettings
from ..sampling import answers as model_answers
from ..stats import mean_with_se

ADJECTIVES = ("able ancient angry bitter blue bold brave bright broad busy calm careful cheap clean clever cold cool "
              "curious dark deep dry eager early easy empty fair famous fancy fast fierce flat fresh friendly full "
              "gentle giant glad golden good grand great green happy hard heavy high hollow honest huge humble "
              "hungry icy jolly kind large late lazy light little lively long loud lucky mild modern narrow neat new "
              "nice noisy odd old orange pale plain polite poor proud purple quick quiet rapid rare red rich rough "
              "round royal rusty sad safe salty sharp shiny short shy silent silly simple slow small smooth soft "
              "solid sour spicy steep strange strong sudden sunny sweet swift tall tame tender thick thin tidy tiny "
              "tough ugly vast warm weak wet white wide wild wise wooden young").split()
NOUNS = ("apple arrow badge basket beach bell bicycle blanket boat bottle bridge brush bucket button cabin camera "
         "candle canyon carpet castle chair cherry circle cloud coat comet compass cookie copper cottage crown "
         "desert diamond dragon drum eagle engine feather fence field flag flower forest fountain garden gate "
         "glacier guitar hammer harbor helmet hill island jacket jungle kettle kite ladder lamp lantern leaf "
         "lemon letter lighthouse lizard magnet marble meadow mirror monkey mountain needle ocean orchard otter "
         "owl palace panda parrot pebble pencil piano pillow planet pocket pond puzzle rabbit river robot rocket "
         "saddle sail shell shield ship signal silver spider spoon stair star statue stone storm sugar table "
         "teapot temple thunder tiger tower train tunnel turtle umbrella valley violin wagon wallet whale window "
         "wizard wolf").split()
VERBS = ("admire arrive borrow bounce breathe calculate carry celebrate climb collect cook count cover dance "
         "deliver discover divide dream drift explain fetch float fold gather glow guard hurry imagine invent "
         "juggle knock laugh listen measure melt mend notice obey observe paint pause plant polish pretend "
         "promise question reach repair rescue roar scatter search shiver sketch slide sneeze sparkle squeeze "
         "stir stretch surprise swim tickle travel tumble unfold vanish wander whisper wiggle wonder yawn").split()
SYLLABLES = ("ka lo mi ra ven to sa ul dor mer fi an bel cor esh gan hal ir jun").split()

TEMPLATES = {  # RULER's templates and answer prefixes (scripts/data/synthetic/constants.py of NVIDIA/RULER)
    "niah": ("Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. I "
             "will quiz you about the {type_needle_v} afterwards.\n{context}\nWhat are all the special magic "
             "{type_needle_v} for {query} mentioned in the provided text?",
             " The special magic {type_needle_v} for {query} mentioned in the provided text are"),
    "vt": ("Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n{context}\n"
           "Question: Find all variables that are assigned the value {query} in the text above.",
           " Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables are "
           "assigned the value {query}, they are: "),
    "cwe": ("Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones "
            "that appear most often.\n{context}\nQuestion: What are the 10 most common words in the above list?",
            " Answer: The top 10 words that appear most often in the list are:"),
    "fwe": ("Read the following coded text and track the frequency of each coded word. Find the three most frequently "
            "appeared coded words. {context}\nQuestion: Do not provide any explanation. Please ignore the dots "
            "'....'. What are the three most frequently appeared words in the above coded text?",
            " Answer: According to the coded text above, the three most frequently appeared words are:"),
    "qa": ("Answer the question based on the given documents. Only give me the answer and do not output any other "
           "words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the question based on the given "
           "documents. Only give me the answer and do not output any other words.\n\nQuestion: {query}",
           " Answer:"),
}
NEEDLE = "One of the special magic {type_needle_v} for {key} is: {value}."
DEPTHS = np.round(np.linspace(0, 100, num=40)).astype(int).tolist()

ENGLISH = sorted(set(ADJECTIVES + NOUNS + VERBS))
COMPOUNDS = [a + n for a in ADJECTIVES for n in NOUNS]
POOL = ENGLISH + COMPOUNDS  # the CWE words of ruler and paper at every length

#: RULER's ``tokens_to_generate`` by task (``scripts/data/synthetic/constants.py`` of NVIDIA/RULER): the room its
#: prompts leave for the answer.
RULER_TOKENS_TO_GENERATE = {"niah": 128, "vt": 30, "cwe": 120, "fwe": 50, "qa": 32}
#: OpenCompass's (``ruler_*_gen.py`` configs and dataset defaults): QA keeps 50; FWE fills the whole length.
OPENCOMPASS_TOKENS_TO_GENERATE = {**RULER_TOKENS_TO_GENERATE, "fwe": 0, "qa": 50}
RULER_SEED = 42  # RULER's and OpenCompass's random_seed, which seeds their fresh random.Random(...).shuffle


@dataclass(frozen=True)
class Task:
    """One RULER task: its generator (rng, size, essay, rules → context, query, template fields, expected strings), its
    group in the paper's Table 2, its metric (all: every expected string; part: any) and, for NIAH, its haystack."""

    name: str
    group: str
    build: Callable[..., tuple[str, str, dict, list[str]]]
    metric: str = "all"
    haystack: str = ""


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def opencompass_sentences(text: str) -> list[str]:
    """OpenCompass's essay split (``ruler_niah.py``): at ". ", each piece stripped, so the full stops are lost."""
    return [s.strip() for s in text.split(". ") if s]


def rulers_grid(task: Task, length: int, budget: int) -> tuple[int, int] | None:
    """RULER's FWE search (``freq_words_extraction.py``): coded words from budget // 6 in steps of budget // 32; its
    other tasks search every size."""
    return (budget // 6, max(budget // 32, 1)) if task.name == "fwe" else None


def opencompass_grid(task: Task, length: int, budget: int) -> tuple[int, int]:
    """OpenCompass's linear searches (``incremental`` of ``ruler_*.py``): essay 500 words, noise or needle haystacks 25
    sentences (5 below 4096), VT, CWE and QA 10; FWE as RULER."""
    if task.name == "fwe":
        return rulers_grid(task, length, budget)
    if task.haystack in ("noise", "needle"):
        step = 5 if length < 4096 else 25
    else:
        step = 500 if task.haystack == "essay" else 10
    return step, step


@dataclass(frozen=True)
class Rules:
    """How one ``--protocol`` generates the tasks (module docstring), read by the task builders; :meth:`at` binds the
    run's length, which RULER's rules read as its ``max_seq_length``."""

    protocol: str
    reference: str                 # what it follows, for the summary
    notes: tuple[str, ...]         # what still differs from that, for the summary
    samples: int                   # samples per task and length unless --samples says
    cwe_example: str | None        # None: no CWE example; else what joins the example's answer prefix and answer
    repeats_by_length: bool        # CWE repeats by RULER's rule on the length (else by the list's size)
    cwe_pool: bool                 # CWE words from POOL at every length (else English words, compounds past them)
    fwe_vocabulary: bool           # FWE: (length − its reserve) // 50 distinct coded words (else 400 draws)
    needle_indices: bool           # noise and needle haystacks: the needle at a uniform random index (else 40 depths)
    shuffle_seed: int | None       # shuffles by a fresh random.Random(shuffle_seed), as RULER (else the sample's rng)
    reserve: dict[str, int] | None  # tokens kept for the answer by template (None: --answer-length)
    grid: Callable[[Task, int, int], tuple[int, int] | None] | None  # the reference's haystack-size steps
    sentences: Callable[[str], list[str]] = _sentences
    length: int = 0

    def at(self, length: int) -> Rules:
        return replace(self, length=length)

    def reserved(self, task: Task, answer_length: int) -> int:
        """Tokens the prompt leaves for the answer: the reference's ``tokens_to_generate``, or ``--answer-length``."""
        return answer_length if self.reserve is None else self.reserve[template_of(task)]

    def fwe_words(self) -> int:
        """RULER's FWE vocabulary, ``max_seq_length // 50`` once FWE's reserve is taken off (RULER: (length − 50) //
        50; OpenCompass, which keeps none: length // 50)."""
        return (self.length - self.reserve["fwe"]) // 50


NOTE_WORDS = ("words: the package's lists, not wonderwords (NIAH keys: its adjective-noun pairs; CWE: one pool of "
              f"{len(POOL):,} words — {len(ENGLISH)} English, {len(COMPOUNDS):,} adjective+noun compounds — at every "
              "length)")
NOTE_QA = "QA: a generated stand-in for SQuAD and HotpotQA, one task instead of two (Avg over 12 tasks, RULER's 13)"
NOTE_ANSWERS = "answers: --answer-length tokens for every task (the prompt keeps the reference's tokens_to_generate)"
RULER_RULES = Rules(
    "ruler", "NVIDIA RULER's generation",
    (NOTE_WORDS, NOTE_QA, NOTE_ANSWERS, "VT: no one-shot example (RULER prepends one)",
     "essay sentences split by a regular expression (RULER: nltk's sent_tokenize)"),
    samples=10, cwe_example=" ", repeats_by_length=True, cwe_pool=True, fwe_vocabulary=True, needle_indices=True,
    shuffle_seed=RULER_SEED, reserve=RULER_TOKENS_TO_GENERATE, grid=rulers_grid)
RULES = {
    "ruler": RULER_RULES,
    "paper": replace(
        RULER_RULES, protocol="paper", reference="OpenCompass's RULER as LongLLaDA ran it",
        notes=("lengths in the model's own tokens, not gpt-4's tiktoken encoding (OpenCompass's default, which "
               "cannot be loaded offline)", NOTE_WORDS, NOTE_QA, NOTE_ANSWERS,
               "VT: assignments on their own lines (OpenCompass joins them into the noise with blanks)",
               "the essay repeats past its end (OpenCompass stops there); the first size search does not count the "
               "answer's tokens (OpenCompass's does)"),
        samples=100, cwe_example="", reserve=OPENCOMPASS_TOKENS_TO_GENERATE, grid=opencompass_grid,
        sentences=opencompass_sentences),
    "package": Rules(
        "package", "the package's own variants, not RULER's generation",
        ("CWE: no example, repeats 30/3 past 100 distinct words (else 6/1) whatever the length, English words then "
         "compounds past 328 words (the task changes with length); FWE: 400 coded-word draws; needles on 40 depths "
         "in every haystack; the prompt keeps --answer-length tokens",
         "words: the package's lists, not wonderwords (NIAH keys: its adjective-noun pairs)", NOTE_QA,
         "essay sentences split by a regular expression"),
        samples=10, cwe_example=None, repeats_by_length=False, cwe_pool=False, fwe_vocabulary=False,
        needle_indices=False, shuffle_seed=None, reserve=None, grid=None),
}
PACKAGE = RULES["package"]


def _draw(rng: random.Random, kind: str) -> str:
    if kind == "numbers":
        return str(rng.randint(10 ** 6, 10 ** 7 - 1))
    if kind == "words":
        return f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _shuffle(rng: random.Random, items: list, rules: Rules) -> None:
    """Shuffle ``items`` with the sample's ``rng``, or as RULER does, with a fresh ``random.Random(seed)``."""
    (rng if rules.shuffle_seed is None else random.Random(rules.shuffle_seed)).shuffle(items)


def _place(units: list[str], placed, joiner: str) -> str:
    """``units`` joined with each (position, item) of ``placed`` (in order) after the first ``position`` units."""
    out, last = [], 0
    for position, item in placed:
        out += units[last:position] + [item]
        last = position
    return joiner.join(out + units[last:])


def _insert(rng: random.Random, units: list[str], items: list[str], joiner: str) -> str:
    """``items`` inserted among ``units`` at depths drawn from RULER's 40 depths."""
    at = sorted(int(len(units) * d / 100) for d in rng.sample(DEPTHS, len(items)))
    return _place(units, zip(at, items), joiner)


def _at_random_indices(rng: random.Random, units: list[str], items: list[str], joiner: str) -> str:
    """``items`` among ``units`` at distinct indices drawn uniformly from ``range(len(units))``, RULER's placement in
    noise and needle haystacks: an item at index i has i units before it, the first item the largest index."""
    indices = sorted(rng.sample(range(len(units)), len(items)), reverse=True)
    return _place(units, sorted(zip(indices, items)), joiner)


def niah(haystack: str, key: str = "words", value: str = "numbers", keys: int = 1, values: int = 1,
         queries: int = 1):
    """A NIAH variant: ``keys`` keys with ``values`` values each, ``queries`` of the keys asked."""
    def build(rng: random.Random, size: int, essay: str, rules: Rules = PACKAGE):
        keys_drawn = [_draw(rng, key) for _ in range(max(keys, queries))]
        values_drawn = [[_draw(rng, value) for _ in range(values)] for _ in keys_drawn]
        needles = [NEEDLE.format(type_needle_v=value, key=k, value=v) for k, vs in zip(keys_drawn, values_drawn)
                   for v in vs]
        _shuffle(rng, needles, rules)
        if haystack == "essay":
            words = essay.split()
            text = " ".join((words * (1 + size // max(len(words), 1)))[:size])
            context = _insert(rng, rules.sentences(text), needles, " ")
        else:
            filler = ([NOISE.strip()] * size if haystack == "noise" else
                      [NEEDLE.format(type_needle_v=value, key=_draw(rng, key), value=_draw(rng, value))
                       for _ in range(size)])
            context = (_at_random_indices if rules.needle_indices else _insert)(rng, filler, needles, "\n")
        asked = rng.sample(range(len(keys_drawn)), queries)
        query = ", ".join(keys_drawn[i] for i in asked[:-1]) + (", and " if queries > 1 else "") + \
            keys_drawn[asked[-1]]
        single = queries * values == 1
        return context, query, {"type_needle_v": value[:-1] if single else value, "single": single}, \
            [v for i in asked for v in values_drawn[i]]
    return build


def niah_task(name: str, haystack: str, **needles) -> Task:
    return Task(name, "NIAH", niah(haystack, **needles), haystack=haystack)


def variable_tracking(rng: random.Random, size: int, essay: str, rules: Rules = PACKAGE, *, hops: int = 4):
    """VT, the same under every protocol (RULER's one-shot example is not reproduced: module docstring)."""
    names = []
    while len(names) < hops + 1:
        name = "".join(rng.choices(string.ascii_uppercase, k=5))
        names += [name] if name not in names else []
    value = str(rng.randint(10000, 99999))
    chain = [f"VAR {names[0]} = {value}"] + [f"VAR {names[j + 1]} = VAR {names[j]}" for j in range(hops)]
    lines = [NOISE.strip()] * (size + len(chain))
    for slot, assignment in zip(sorted(rng.sample(range(len(lines)), len(chain))), chain):
        lines[slot] = assignment  # the chain in order, at random places among the noise
    return "\n".join(lines), value, {"num_v": len(names)}, names


def cwe_repeats(rules: Rules, size: int) -> tuple[tuple[int, int, int] | None, tuple[int, int]]:
    """CWE's example (its words, common and other repeats; None: no example) and the real list's repeats. RULER
    (``common_words_extraction.py``): below a length of 4096, a 20-word example at 3 and 1 and the list at 6 and 1;
    else 40 words at 10 and 3, and 30 and 3. The package: no example, 30 and 3 past 100 distinct words, else 6 and 1."""
    if not rules.repeats_by_length:
        return None, ((30, 3) if size > 100 else (6, 1))
    return ((20, 3, 1), (6, 1)) if rules.length < 4096 else ((40, 10, 3), (30, 3))


def _word_list(rng: random.Random, vocabulary: list[str], size: int, repeats: tuple[int, int], rules: Rules,
               common: int = 10) -> tuple[str, list[str]]:
    """A numbered list ``1. word 2. word …`` of ``size`` words drawn from ``vocabulary``, the first ``common`` of them
    ``repeats[0]`` times and the rest ``repeats[1]`` times, shuffled; and its common words."""
    chosen = rng.sample(vocabulary, min(size, len(vocabulary)))
    words = chosen[:common] * repeats[0] + chosen[common:] * repeats[1]
    _shuffle(rng, words, rules)
    return " ".join(f"{i + 1}. {w}" for i, w in enumerate(words)), chosen[:common]


def common_words(rng: random.Random, size: int, essay: str, rules: Rules = PACKAGE, *, common: int = 10):
    """CWE: ``size`` distinct words, their list and the 10 most common; with RULER's example before it (``rules``)."""
    vocabulary = POOL if rules.cwe_pool else ENGLISH + (COMPOUNDS if size > len(ENGLISH) else [])
    example, repeats = cwe_repeats(rules, size)
    fields = {}
    if example is not None and rules.cwe_example is not None:
        context, answer = _word_list(rng, vocabulary, example[0], example[1:], rules, common)
        body, prefix = TEMPLATES["cwe"]
        fields["example"] = (body.format(context=context) + prefix + rules.cwe_example +
                             " ".join(f"{i + 1}. {w}" for i, w in enumerate(answer)) + "\n")
    context, answer = _word_list(rng, vocabulary, size, repeats, rules, common)
    return context, "", fields, answer


def coded_words(rng: random.Random, count: int, exact: bool) -> list[str]:
    """``count`` draws of 6 lowercase letters, sorted and deduplicated; ``exact``: drawn again until ``count`` are
    distinct (RULER's vocabulary)."""
    draws = ["".join(rng.choices(string.ascii_lowercase, k=6)) for _ in range(count)]
    while exact and len(set(draws)) < count:
        draws.append("".join(rng.choices(string.ascii_lowercase, k=6)))
    return sorted(set(draws))


def frequent_words(rng: random.Random, size: int, essay: str, rules: Rules = PACKAGE, *, alpha: float = 2.0,
                   vocabulary: int = 400):
    from scipy.special import zeta

    codes = coded_words(rng, rules.fwe_words() if rules.fwe_vocabulary else vocabulary, rules.fwe_vocabulary)
    _shuffle(rng, codes, rules)
    codes[0] = "..."  # the most frequent is noise, as RULER treats it
    counts = (size * np.arange(1, len(codes) + 1, dtype=float) ** -alpha / zeta(alpha)).astype(int)
    words = [w for w, n in zip(codes, counts) for _ in range(n)]
    _shuffle(rng, words, rules)
    return " ".join(words), "", {}, codes[1:4]


def _island(rng: random.Random) -> str:
    return "".join(rng.choices(SYLLABLES, k=4)).capitalize()


def question_answering(rng: random.Random, size: int, essay: str, rules: Rules = PACKAGE):
    """QA, the package's stand-in for SQuAD and HotpotQA under every protocol: ``size`` + 1 documents, one asked."""
    islands = list(dict.fromkeys(_island(rng) for _ in range(3 * size + 3)))[:size + 1]
    capitals = [_island(rng) + " Town" for _ in islands]
    documents = [f"Document {i + 1}:\nThe island of {island} lies in a quiet sea. Its capital is {capital}, "
                 f"a harbour of {rng.randint(2, 90)} thousand people." for i, (island, capital) in
                 enumerate(zip(islands, capitals))]
    asked = rng.randrange(len(islands))
    return "\n\n".join(documents), f"What is the capital of the island of {islands[asked]}?", {}, [capitals[asked]]


TASKS: Registry[Task] = Registry("ruler_tasks", "RULER task", {task.name: task for task in (
    niah_task("niah_single_1", "noise"),
    niah_task("niah_single_2", "essay"),
    niah_task("niah_single_3", "essay", value="uuids"),
    niah_task("niah_multikey_1", "essay", keys=4),
    niah_task("niah_multikey_2", "needle"),
    niah_task("niah_multikey_3", "needle", key="uuids", value="uuids"),
    niah_task("niah_multivalue", "essay", values=4),
    niah_task("niah_multiquery", "essay", queries=4),
    Task("vt", "VT", variable_tracking),
    Task("cwe", "AGG", common_words),
    Task("fwe", "AGG", frequent_words),
    Task("qa", "QA", question_answering, metric="part"),
)})


def template_of(task: Task) -> str:
    return task.name.split("_")[0] if task.name.startswith("niah") else task.name


def render(task: Task, context: str, query: str, fields: dict) -> str:
    """RULER's prompt for ``task`` with its answer prefix (a single needle asked reads in the singular, as RULER
    rewrites it), after CWE's example where ``fields`` has one."""
    body, prefix = TEMPLATES[template_of(task)]
    if fields.get("single"):
        body = body.replace("Some", "A").replace("are all", "is").replace("are", "is")
        prefix = prefix.replace("are", "is")
    values = {k: v for k, v in fields.items() if k not in ("single", "example")}
    return fields.get("example", "") + body.format(context=context, query=query, **values) + \
        prefix.format(query=query, **values)


def ruler_score(answer: str, expected: list[str], metric: str) -> float:
    """RULER's ``string_match_all`` (metric all: the share of ``expected`` found) or ``string_match_part`` (part: 100
    if any is found), case-insensitive, 0–100."""
    found = [e.lower() in answer.lower() for e in expected]
    return 100.0 * (sum(found) / len(found) if metric == "all" else float(any(found)))


def shortest_prompt(task: Task, tokenizer, seed: int, essay: str, rules: Rules = PACKAGE) -> int:
    """Tokens of ``task``'s prompt with the smallest haystack (one unit): the least length it can be asked at, before
    the answer."""
    context, query, fields, _ = task.build(random.Random(seed), 1, essay, rules)
    return len(tokenizer.encode(render(task, context, query, fields)))


def fit(task: Task, tokenizer, length: int, seed: int, essay: str,
        rules: Rules = PACKAGE) -> tuple[list[int], list[str], int]:
    """The prompt ids of ``task`` with the largest haystack whose prompt fits in ``length`` tokens (binary search over
    the haystack size; then, where ``rules`` has the reference's search steps, the largest size on them that fits),
    its expected strings and that size."""
    def prompt(size: int):
        context, query, fields, expected = task.build(random.Random(seed), size, essay, rules)
        return tokenizer.encode(render(task, context, query, fields)), expected

    low, high, best = 1, 2, None
    while len(prompt(high)[0]) <= length:
        if high > 10 * length:
            raise LongLLaDAError(f"task {task.name} cannot fill {length} tokens", parameters=("lengths",))
        low, high = high, high * 2
    while low <= high:
        middle = (low + high) // 2
        ids, expected = prompt(middle)
        if len(ids) <= length:
            best, low = (ids, expected, middle), middle + 1
        else:
            high = middle - 1
    if best is None:
        raise LongLLaDAError(f"length {length} is too short for task {task.name}: its template and one haystack unit "
                             f"take {shortest_prompt(task, tokenizer, seed, essay, rules)} tokens",
                             parameters=("lengths",))
    grid = rules.grid(task, rules.length, length) if rules.grid else None
    return on_grid(prompt, best, grid, length) if grid else best


def on_grid(prompt, best: tuple[list[int], list[str], int], grid: tuple[int, int], length: int):
    """The largest size start + k·step (any whole k) at or below ``best``'s whose prompt fits in ``length``, stepping
    down while one does not, as the references do; ``best`` where none does."""
    start, step = grid
    size = best[2] - (best[2] - start) % step
    while size >= 1:
        ids, expected = prompt(size)
        if len(ids) <= length:
            return ids, expected, size
        size -= step
    return best


def expressible(task: Task, tokenizer, expected: list[str]) -> None:
    """Refuse a task whose answers the tokenizer cannot write back (an unknown-token vocabulary loses them)."""
    lost = [e for e in expected if e.lower() not in tokenizer.decode(tokenizer.encode(" " + e)).lower()]
    if lost:
        raise LongLLaDAError(f"the tokenizer cannot express task {task.name}'s answers: {lost[0]!r} does not survive "
                             f"encoding and decoding", parameters=("tasks",))


@dataclass(frozen=True)
class RulerSettings(SamplerSettings):
    lengths: tuple[int, ...] = option("comma-separated context lengths (prompt and answer)", (4096, 8192, 16384),
                                      parse=Listing(Length()))
    tasks: tuple[str, ...] = option("comma-separated tasks (default: all 12)", tuple(TASKS),
                                    parse=lambda v: tuple(t.strip() for t in v.split(",") if t.strip()))
    protocol: str = option(
        "how the tasks are generated — ruler: NVIDIA RULER's generation (one-shot CWE, its repeat rule at 4096 tokens, "
        "FWE vocabulary (length − 50) // 50, needles at random indices of noise and needle haystacks, room for its "
        "tokens_to_generate); paper: OpenCompass's RULER as LongLLaDA ran it (ruler's rules with OpenCompass's "
        "changes, 100 samples; lengths in the model's tokens, not gpt-4's); package: the package's own variants "
        "(no CWE example, 40 needle depths, 400 FWE words); all three use the package's word lists and a generated "
        "QA (module docstring of longllada_theory.measure.protocols.ruler)", "package", choices=tuple(RULES),
        legacy="package")
    samples: int | None = option("samples per task and length (default: 100 for paper, OpenCompass's NUM_SAMPLES; "
                                 "else 10)", None, parse=Whole(1, 100_000))
    answer_length: int = option("answer tokens (LongLLaDA's RULER runs: 64)", 64, parse=Whole(1, 4096))
    haystack: str = option("the essay haystack of the essay tasks: a .txt, a .jsonl or builtin:stdlib",
                           "builtin:stdlib")
    haystack_field: str = option("field of a .jsonl haystack file", "text", header=False)
    seed: int = option("random seed", 0, cli=False)

    def __post_init__(self):
        super().__post_init__()
        if self.protocol not in RULES:
            raise LongLLaDAError(f"protocol {self.protocol!r} is unknown; expected one of {', '.join(RULES)}",
                                 parameters=("protocol",))
        if self.samples is None:
            object.__setattr__(self, "samples", RULES[self.protocol].samples)
        if not self.tasks:
            raise LongLLaDAError(f"give at least one task of {', '.join(TASKS)}", parameters=("tasks",))
        for task in self.tasks:
            TASKS.entry(task, parameter="tasks")
        if not self.lengths or self.samples < 1:
            raise LongLLaDAError("give at least one length and one sample", parameters=("lengths", "samples"))
        if self.answer_length >= min(self.lengths):
            raise LongLLaDAError(f"answer_length {self.answer_length} must be smaller than every length",
                                 parameters=("answer_length",))
        rules = RULES[self.protocol]
        if "fwe" in self.tasks and rules.fwe_vocabulary and rules.at(min(self.lengths)).fwe_words() < 4:
            raise LongLLaDAError(f"length {min(self.lengths)} is too short for task fwe under --protocol "
                                 f"{self.protocol}: its vocabulary, (length − {rules.reserve['fwe']}) // 50 coded "
                                 "words, needs 4", parameters=("lengths",))

    def rules(self, length: int) -> Rules:
        return RULES[self.protocol].at(length)

    def keys(self) -> list[str]:
        return [f"{task}/L{length}/N{i}" for task in self.tasks for length in self.lengths
                for i in range(self.samples)]


@register_protocol
class Ruler(Protocol):
    """The RULER suite (module docstring): one cell per task × length × sample."""

    name = "ruler"
    paper_figures = ("table2",)
    help = "RULER's tasks generated offline: NIAH variants, variable tracking, aggregation, QA (the paper's Table 2)"
    description = ("RULER's tasks generated offline (no download) by --protocol ruler (NVIDIA RULER's generation), "
                   "paper (OpenCompass's RULER as LongLLaDA ran it) or package (the package's own variants), at "
                   "lengths in the model's own tokens, answered by greedy decoding (AR) or the family's sampler "
                   "(diffusion), scored as RULER scores them; the summary gives the paper's Table 2 groups (NIAH, "
                   "AGG, QA) and the average, and what the protocol does not reproduce.")
    settings_type = RulerSettings

    @classmethod
    def read_inputs(cls, settings: RulerSettings) -> str:
        return load_text(settings.haystack, settings.haystack_field, limit_chars=400_000,
                         field_parameter="haystack_field")

    def prepare(self) -> None:
        self.settings = self.settings.resolved(self.loaded)
        shortest = min(self.settings.lengths)
        for name in self.settings.tasks:  # a task the model cannot take fails before the results file is written
            task = TASKS[name]
            for length in self.settings.lengths:  # at every length: ruler's CWE example grows at 4096
                self.check_room(task, length)
            _, expected, _ = fit(task, self.loaded.tokenizer, self.budget(task, shortest), self.settings.seed,
                                 self.inputs, self.settings.rules(shortest))
            expressible(task, self.loaded.tokenizer, expected)

    def check_room(self, task: Task, length: int) -> None:
        """Refuse a length whose budget cannot hold ``task``'s prompt with one haystack unit."""
        rules = self.settings.rules(length)
        least = shortest_prompt(task, self.loaded.tokenizer, self.settings.seed, self.inputs, rules)
        if least > self.budget(task, length):
            raise LongLLaDAError(f"length {length} is too short for task {task.name}: its template and one haystack "
                                 f"unit take {least} tokens, plus {rules.reserved(task, self.settings.answer_length)} "
                                 f"for the answer and {len(self.loaded.prefix_ids)} for the model's prefix",
                                 parameters=("lengths",))

    def budget(self, task: Task, length: int) -> int:
        """The prompt's tokens at ``length``: what the model's prefix and the answer's room leave."""
        reserved = self.settings.rules(length).reserved(task, self.settings.answer_length)
        return length - len(self.loaded.prefix_ids) - reserved

    def batches(self, keys: list[str]) -> list[list[str]]:
        groups: list[list[str]] = []
        for key in keys:
            same = groups and groups[-1][0].rsplit("/", 1)[0] == key.rsplit("/", 1)[0]
            if same and len(groups[-1]) < self.settings.batch_size:
                groups[-1].append(key)
            else:
                groups.append([key])
        return groups

    def keys(self) -> list[str]:
        return self.settings.keys()

    def measure(self, keys: list[str]) -> list[dict]:
        prompts, meta = [], []
        for key in keys:
            name, length, _ = key.split("/")
            task, length = TASKS[name], int(length[1:])
            ids, expected, size = fit(task, self.loaded.tokenizer, self.budget(task, length),
                                      cell_seed(self.settings.seed, key), self.inputs, self.settings.rules(length))
            prompts.append(self.loaded.prefix_ids + ids)
            meta.append((key, task, length, expected, size))
        replies = model_answers(self.loaded, prompts, self.settings.sampler_options(),
                                seeds=[cell_seed(self.settings.seed, key + ":sample") for key in keys])
        cells = []
        for (key, task, length, expected, size), reply in zip(meta, replies):
            answer = self.loaded.tokenizer.decode(reply)
            cells.append({"key": key, "task": task.name, "group": task.group, "length": length,
                          "haystack_size": size, "expected": expected, "answer": answer,
                          "score": round(ruler_score(answer, expected, task.metric), 4)})
        return cells

    @classmethod
    def summarize(cls, settings: dict, cells: list[dict]) -> dict:
        rules = RULES[settings.get("protocol", "package")]
        return {**ruler_summary(cells), "protocol": rules.protocol, "follows": rules.reference,
                "differences": list(rules.notes)}

    @classmethod
    def compare(cls, settings: dict, cells: list[dict], reference: Reference, tolerance: float) -> dict:
        """Table 2's groups beside the run's at each paper length (matched within ``tolerance``, relative: the paper
        counts gpt-4 tokens, the run the model's own); the run's scaling factor must be the reference's."""
        factor = float((settings.get("scaling") or {}).get("scaling_factor") or 1.0)
        if abs(factor - reference.factor) > 0.5:
            raise LongLLaDAError(f"the run's scaling factor is {factor:g} but reference {reference.name} used NTK "
                                 f"factor {reference.factor:g}; run with --rope-scale {reference.factor:g}",
                                 parameters=("rope_scale",))
        rules, summary = RULES[settings.get("protocol", "package")], ruler_summary(cells)
        paper = table2_frame(reference)
        matched, rows, missing = {}, {}, []
        for length in map(int, paper.columns):
            close = [n for n in summary["lengths"] if abs(n - length) <= tolerance * length]
            if not close:
                missing.append(f"length {length}")
                continue
            matched[length] = min(close, key=lambda n: abs(n - length))
            for group in TABLE2_GROUPS:
                ours = summary["groups"].get(group, {}).get(matched[length])
                if ours is None:
                    missing.append(f"{group} at {length}")
                    continue
                rows.setdefault(group, {})[length] = {"ours": round(ours["mean"], 2), "se": round(ours["se"], 2),
                                                      "paper": paper.loc[group, length],
                                                      "difference": round(ours["mean"] - paper.loc[group, length], 2)}
        if missing:
            raise LongLLaDAError(f"the results lack {len(missing)} cell(s) of the reference: {', '.join(missing)} "
                                 f"(run every task at {', '.join(format_length(int(n)) for n in paper.columns)})")
        differences = np.array([abs(v["difference"]) for by in rows.values() for v in by.values()])
        return {"reference": reference.name, "kind": "ruler", "matched_lengths": matched, "groups": rows,
                "mean_abs_difference": round(float(differences.mean()), 2),
                "max_abs_difference": round(float(differences.max()), 2),
                "reproduced": bool(differences.mean() <= 10),
                "criterion": "mean |Δ| ≤ 10 points over the groups NIAH, AGG, QA, Avg at every length",
                "protocol": rules.protocol,
                "note": (f"this run used --protocol {rules.protocol} ({rules.reference}), generated offline from the "
                         f"package's own files; what differs: {'; '.join(rules.notes)}")}

    @classmethod
    def describe_comparison(cls, document: dict) -> str:
        return "\n".join([f"{document['reference']}: mean |Δ| {document['mean_abs_difference']} points, max "
                          f"{document['max_abs_difference']}"] +
                         [f"  {group:>4} {format_length(length):>6}: ours {v['ours']:6.1f} ± {v['se']:<5.1f} paper "
                          f"{v['paper']:6.1f}" for group, by in document["groups"].items() for length, v in by.items()])

    @classmethod
    def result(cls, summary: dict) -> str:
        return "average over tasks " + "; ".join(
            f"{format_length(int(k))}: {v['mean']:.1f} ± {v['se']:.1f} (n {v['n']})"
            for k, v in summary["groups"]["Avg"].items())

    @classmethod
    def describe(cls, summary: dict) -> str:
        lines = [f"{'':>16}" + "".join(f"{format_length(int(n)):>14}" for n in summary["lengths"])]
        for row, by_length in {**summary["tasks"], **summary["groups"]}.items():
            lines.append(f"{row:>16}" + "".join(
                f"{by_length[n]['mean']:>8.1f} ± {by_length[n]['se']:<4.1f}" if n in by_length else f"{'—':>14}"
                for n in summary["lengths"]))
        if "protocol" in summary:
            lines.append(f"--protocol {summary['protocol']}: {summary['follows']}; what differs:")
            lines += [f"  - {note}" for note in summary["differences"]]
        return "\n".join(lines)



def ruler_summary(cells: list[dict]) -> dict:
    """Mean score ± standard error by task and length; the paper's groups (NIAH, VT, AGG, QA) and ``Avg`` (the mean
    over tasks, as RULER averages its 13) by length."""
    lengths = sorted({c["length"] for c in cells})
    tasks = {task: {} for task in dict.fromkeys(c["task"] for c in cells)}
    for task in tasks:
        for length in lengths:
            scores = [c["score"] for c in cells if c["task"] == task and c["length"] == length]
            if scores:
                tasks[task][length] = {k: round(v, 3) for k, v in mean_with_se(scores).items()}
    groups: dict[str, dict] = {}
    for group in dict.fromkeys([*(TASKS[t].group for t in tasks), "Avg"]):
        members = [t for t in tasks if group == "Avg" or TASKS[t].group == group]
        for length in lengths:
            means = [tasks[t][length]["mean"] for t in members if length in tasks[t]]
            if means:
                groups.setdefault(group, {})[length] = {k: round(v, 3) for k, v in mean_with_se(means).items()}
    return {"lengths": lengths, "tasks": tasks, "groups": groups}
