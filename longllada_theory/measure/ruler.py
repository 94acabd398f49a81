"""A RULER-style task suite (Hsieh et al. 2024, arXiv 2404.06654; the paper's Table 2 ran RULER) that needs no
download: the ``ruler`` measurement.

Tasks, as RULER's task configuration defines them (``scripts/synthetic.yaml`` of NVIDIA/RULER), generated here:

- NIAH (group NIAH): ``niah_single_1`` (repeated noise, word key, 7-digit value), ``niah_single_2`` (essay haystack),
  ``niah_single_3`` (essay, UUID value), ``niah_multikey_1`` (4 keys in an essay), ``niah_multikey_2`` (the haystack
  is other needles), ``niah_multikey_3`` (needle haystack, UUID keys and values), ``niah_multivalue`` (4 values for
  the key), ``niah_multiquery`` (4 keys asked);
- ``vt`` (group VT): a chain of 4 variable assignments in noise, every variable holding the value asked;
- ``cwe`` and ``fwe`` (group AGG): the 10 most common words of a numbered list (each 30 times against 3, or 6
  against 1 below 4k tokens), the 3 most frequent coded words of a Zipf (α = 2) text;
- ``qa`` (group QA): a generated fact (a fictional island's capital) among generated distractor documents — RULER
  uses SQuAD and HotpotQA, which need a download; this is the package's stand-in.

Each prompt is RULER's template and answer prefix around a context grown to the largest size that leaves room for
the answer within the length (binary search over the haystack size, in the model's own tokens). Scores, 0–100 as
RULER's: ``string_match_all`` (the share of the expected strings found in the answer, case-insensitive) and, for
QA, ``string_match_part`` (any of them). Word keys are adjective-noun pairs and aggregation words come from the
package's own English word lists (RULER draws them from the ``wonderwords`` package).
"""

from __future__ import annotations

import random
import re
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import LongLLaDAError
from ..lengths import format_length
from ..values import Length, Listing, Whole
from .protocol import Protocol, option, register_protocol
from .results import cell_seed
from .sampling import SamplerSettings
from .sampling import answers as model_answers
from .stats import mean_with_se
from .texts import NOISE, load_text

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


@dataclass(frozen=True)
class Task:
    """One RULER task: its generator (rng, size → context, query, template fields, expected strings), its group in
    the paper's Table 2 and its metric (all: every expected string; part: any)."""

    name: str
    group: str
    build: Callable[[random.Random, int, str], tuple[str, str, dict, list[str]]]
    metric: str = "all"


def _draw(rng: random.Random, kind: str) -> str:
    if kind == "numbers":
        return str(rng.randint(10 ** 6, 10 ** 7 - 1))
    if kind == "words":
        return f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def _insert(rng: random.Random, units: list[str], items: list[str], joiner: str) -> str:
    """``items`` inserted among ``units`` at depths drawn from RULER's 40 depths."""
    at = sorted(int(len(units) * d / 100) for d in rng.sample(DEPTHS, len(items)))
    out, last = [], 0
    for position, item in zip(at, items):
        out += units[last:position] + [item]
        last = position
    return joiner.join(out + units[last:])


def niah(haystack: str, key: str = "words", value: str = "numbers", keys: int = 1, values: int = 1,
         queries: int = 1):
    """A NIAH variant: ``keys`` keys with ``values`` values each, ``queries`` of the keys asked."""
    def build(rng: random.Random, size: int, essay: str):
        keys_drawn = [_draw(rng, key) for _ in range(max(keys, queries))]
        values_drawn = [[_draw(rng, value) for _ in range(values)] for _ in keys_drawn]
        needles = [NEEDLE.format(type_needle_v=value, key=k, value=v) for k, vs in zip(keys_drawn, values_drawn)
                   for v in vs]
        rng.shuffle(needles)
        if haystack == "essay":
            words = essay.split()
            context = _insert(rng, _sentences(" ".join((words * (1 + size // max(len(words), 1)))[:size])), needles,
                              " ")
        else:
            filler = ([NOISE.strip()] * size if haystack == "noise" else
                      [NEEDLE.format(type_needle_v=value, key=_draw(rng, key), value=_draw(rng, value))
                       for _ in range(size)])
            context = _insert(rng, filler, needles, "\n")
        asked = rng.sample(range(len(keys_drawn)), queries)
        query = ", ".join(keys_drawn[i] for i in asked[:-1]) + (", and " if queries > 1 else "") + \
            keys_drawn[asked[-1]]
        single = queries * values == 1
        return context, query, {"type_needle_v": value[:-1] if single else value, "single": single}, \
            [v for i in asked for v in values_drawn[i]]
    return build


def variable_tracking(rng: random.Random, size: int, essay: str, hops: int = 4):
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


def common_words(rng: random.Random, size: int, essay: str, common: int = 10):
    vocabulary = sorted(set(ADJECTIVES + NOUNS + VERBS))
    if size > len(vocabulary):  # RULER turns to a larger word list here; ours: compound words
        vocabulary += [a + n for a in ADJECTIVES for n in NOUNS]
    chosen = rng.sample(vocabulary, min(size, len(vocabulary)))
    repeats = (30, 3) if size > 100 else (6, 1)
    words = chosen[:common] * repeats[0] + chosen[common:] * repeats[1]
    rng.shuffle(words)
    return " ".join(f"{i + 1}. {w}" for i, w in enumerate(words)), "", {}, chosen[:common]


def frequent_words(rng: random.Random, size: int, essay: str, alpha: float = 2.0, vocabulary: int = 400):
    from scipy.special import zeta

    codes = sorted({"".join(rng.choices(string.ascii_lowercase, k=6)) for _ in range(vocabulary)})
    rng.shuffle(codes)
    codes[0] = "..."  # the most frequent is noise, as RULER treats it
    counts = (size * np.arange(1, len(codes) + 1, dtype=float) ** -alpha / zeta(alpha)).astype(int)
    words = [w for w, n in zip(codes, counts) for _ in range(n)]
    rng.shuffle(words)
    return " ".join(words), "", {}, codes[1:4]


def _island(rng: random.Random) -> str:
    return "".join(rng.choices(SYLLABLES, k=4)).capitalize()


def question_answering(rng: random.Random, size: int, essay: str):
    islands = list(dict.fromkeys(_island(rng) for _ in range(3 * size + 3)))[:size + 1]
    capitals = [_island(rng) + " Town" for _ in islands]
    documents = [f"Document {i + 1}:\nThe island of {island} lies in a quiet sea. Its capital is {capital}, "
                 f"a harbour of {rng.randint(2, 90)} thousand people." for i, (island, capital) in
                 enumerate(zip(islands, capitals))]
    asked = rng.randrange(len(islands))
    return "\n\n".join(documents), f"What is the capital of the island of {islands[asked]}?", {}, [capitals[asked]]


TASKS: dict[str, Task] = {task.name: task for task in (
    Task("niah_single_1", "NIAH", niah("noise")),
    Task("niah_single_2", "NIAH", niah("essay")),
    Task("niah_single_3", "NIAH", niah("essay", value="uuids")),
    Task("niah_multikey_1", "NIAH", niah("essay", keys=4)),
    Task("niah_multikey_2", "NIAH", niah("needle")),
    Task("niah_multikey_3", "NIAH", niah("needle", key="uuids", value="uuids")),
    Task("niah_multivalue", "NIAH", niah("essay", values=4)),
    Task("niah_multiquery", "NIAH", niah("essay", queries=4)),
    Task("vt", "VT", variable_tracking),
    Task("cwe", "AGG", common_words),
    Task("fwe", "AGG", frequent_words),
    Task("qa", "QA", question_answering, metric="part"),
)}


def template_of(task: Task) -> str:
    return task.name.split("_")[0] if task.name.startswith("niah") else task.name


def render(task: Task, context: str, query: str, fields: dict) -> str:
    """RULER's prompt for ``task`` with its answer prefix (a single needle asked reads in the singular, as RULER
    rewrites it)."""
    body, prefix = TEMPLATES[template_of(task)]
    if fields.get("single"):
        body = body.replace("Some", "A").replace("are all", "is").replace("are", "is")
        prefix = prefix.replace("are", "is")
    values = {k: v for k, v in fields.items() if k != "single"}
    return body.format(context=context, query=query, **values) + prefix.format(query=query, **values)


def ruler_score(answer: str, expected: list[str], metric: str) -> float:
    """RULER's ``string_match_all`` (metric all: the share of ``expected`` found) or ``string_match_part`` (part: 100
    if any is found), case-insensitive, 0–100."""
    found = [e.lower() in answer.lower() for e in expected]
    return 100.0 * (sum(found) / len(found) if metric == "all" else float(any(found)))


def shortest_prompt(task: Task, tokenizer, seed: int, essay: str) -> int:
    """Tokens of ``task``'s prompt with the smallest haystack (one unit): the least length it can be asked at, before
    the answer."""
    context, query, fields, _ = task.build(random.Random(seed), 1, essay)
    return len(tokenizer.encode(render(task, context, query, fields)))


def fit(task: Task, tokenizer, length: int, seed: int, essay: str) -> tuple[list[int], list[str], int]:
    """The prompt ids of ``task`` with the largest haystack whose prompt leaves the answer room within ``length``
    tokens (binary search over the haystack size), its expected strings and that size."""
    def prompt(size: int):
        context, query, fields, expected = task.build(random.Random(seed), size, essay)
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
                             f"take {shortest_prompt(task, tokenizer, seed, essay)} tokens", parameters=("lengths",))
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
    samples: int = option("samples per task and length", 10, parse=Whole(1, 100_000))
    answer_length: int = option("answer tokens (LongLLaDA's RULER runs: 64)", 64, parse=Whole(1, 4096))
    haystack: str = option("the essay haystack of the essay tasks: a .txt, a .jsonl or builtin:stdlib",
                           "builtin:stdlib")
    haystack_field: str = option("field of a .jsonl haystack file", "text", header=False)
    seed: int = option("random seed", 0, cli=False)

    def __post_init__(self):
        super().__post_init__()
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks:
            raise LongLLaDAError(f"tasks {', '.join(unknown) or '(none)'} unknown; expected some of "
                                 f"{', '.join(TASKS)}", parameters=("tasks",))
        if not self.lengths or self.samples < 1:
            raise LongLLaDAError("give at least one length and one sample", parameters=("lengths", "samples"))
        if self.answer_length >= min(self.lengths):
            raise LongLLaDAError(f"answer_length {self.answer_length} must be smaller than every length",
                                 parameters=("answer_length",))

    def keys(self) -> list[str]:
        return [f"{task}/L{length}/N{i}" for task in self.tasks for length in self.lengths
                for i in range(self.samples)]


@register_protocol
class Ruler(Protocol):
    """The RULER-style suite (module docstring): one cell per task × length × sample."""

    name = "ruler"
    help = "a RULER-style task suite: NIAH variants, variable tracking, aggregation, QA (the paper's Table 2)"
    description = ("RULER's tasks generated offline (no download), at lengths in the model's own tokens, answered by "
                   "greedy decoding (AR) or the family's sampler (diffusion), scored as RULER scores them; the "
                   "summary gives the paper's Table 2 groups (NIAH, AGG, QA) and the average.")
    settings_type = RulerSettings

    @classmethod
    def read_inputs(cls, settings: RulerSettings) -> str:
        return load_text(settings.haystack, settings.haystack_field, limit_chars=400_000,
                         field_parameter="haystack_field")

    def prepare(self) -> None:
        self.settings = self.settings.resolved(self.loaded)
        self.budget = {length: length - len(self.loaded.prefix_ids) - self.settings.answer_length
                       for length in self.settings.lengths}
        shortest = min(self.settings.lengths)
        for name in self.settings.tasks:  # a task the model cannot take fails before the results file is written
            task = TASKS[name]
            least = shortest_prompt(task, self.loaded.tokenizer, self.settings.seed, self.inputs)
            if least > self.budget[shortest]:
                raise LongLLaDAError(f"length {shortest} is too short for task {name}: its template and one haystack "
                                     f"unit take {least} tokens, plus {self.settings.answer_length} for the answer "
                                     f"and {len(self.loaded.prefix_ids)} for the model's prefix",
                                     parameters=("lengths",))
            _, expected, _ = fit(task, self.loaded.tokenizer, self.budget[shortest], self.settings.seed, self.inputs)
            expressible(task, self.loaded.tokenizer, expected)

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
            task = TASKS[name]
            ids, expected, size = fit(task, self.loaded.tokenizer, self.budget[int(length[1:])],
                                      cell_seed(self.settings.seed, key), self.inputs)
            prompts.append(self.loaded.prefix_ids + ids)
            meta.append((key, task, int(length[1:]), expected, size))
        replies = model_answers(self.loaded, prompts, self.settings.sampler_options(),
                                seeds=[cell_seed(self.settings.seed, key + ":sample") for key in keys])
        cells = []
        for (key, task, length, expected, size), reply in zip(meta, replies):
            answer = self.loaded.tokenizer.decode(reply)
            cells.append({"key": key, "task": task.name, "group": task.group, "length": length,
                          "haystack_size": size, "expected": expected, "answer": answer,
                          "score": round(ruler_score(answer, expected, task.metric), 4)})
        return cells

    def summary(self, cells: list[dict]) -> dict:
        return ruler_summary(cells)

    def describe(self, summary: dict) -> str:
        lines = [f"{'':>16}" + "".join(f"{format_length(int(n)):>14}" for n in summary["lengths"])]
        for row, by_length in {**summary["tasks"], **summary["groups"]}.items():
            lines.append(f"{row:>16}" + "".join(
                f"{by_length[n]['mean']:>8.1f} ± {by_length[n]['se']:<4.1f}" if n in by_length else f"{'—':>14}"
                for n in summary["lengths"]))
        return "\n".join(lines)

    @classmethod
    def figure(cls, runs, title: str | None = None):
        from ..figures.draw import ruler_figure, run_label

        return ruler_figure([(run_label(run.settings), ruler_summary(run.cells)) for run in runs])


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
