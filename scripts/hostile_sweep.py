"""A hostile sweep over the command line, run as a user would run it: every case is one `longllada` invocation in its
own process (forked after the heavy imports, killed when it runs past its time), on the shipped twins and tiny
inputs, and classified from what happened:

- ``refused``: exit 2 and one line ``longllada: error: …`` on stderr;
- ``ran``: exit 0 (where the case allows it);
- ``traceback``: a Python traceback or another exit status;
- ``hang``: still running after the case's time limit;
- ``unclear``: exit 2 with more than one line, or without the ``longllada: error:`` prefix;
- ``silent``: exit 0 where the case expects a refusal (an empty or non-finite value, a changed input on resume);
- ``harm``: a file the case planted that the package must not touch was changed (a foreign output, a results file
  resumed with other inputs).

Classes: option values (every option of every command, hostile values), hostile configs, hostile input files, hostile
outputs, changed inputs and weights between runs of one results file.

Usage: python scripts/hostile_sweep.py [--out sweep.json] [--values-per-option N]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import io
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

NUMERIC_HOSTILE = ["", " ", "nan", "inf", "-inf", "abc", "-1", "99999999999999999999", "1e30"]
TEXT_HOSTILE = ["", " ", "\x00", "../../etc/passwd", "a\nb", "x" * 300, "🙂", "/dev/null"]
TIMEOUT = 120


@dataclass
class Case:
    kind: str
    argv: list[str]
    expect_refusal: bool = False          # exit 0 would be a silent acceptance
    guarded: list[str] = field(default_factory=list)  # files that must be unchanged afterwards
    before: list[list[str]] = field(default_factory=list)  # runs that prepare the case (their outcome is not judged)
    between: tuple[str, str] | None = None  # a file copied over another after those runs (new weights)


def _digest(path: str) -> str | None:
    p = Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None


def _invoke(argv: list[str], queue) -> None:
    from longllada_theory.cli import main

    err, out = io.StringIO(), io.StringIO()
    status = None
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = exit_.code
        except BaseException:  # noqa: BLE001 (the sweep records what escaped)
            err.write(traceback.format_exc())
            status = "exception"
    queue.put((status, err.getvalue()[-4000:]))


def invoke(argv: list[str], timeout: int = TIMEOUT) -> tuple[object, str]:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_invoke, args=(argv, queue))
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
        return "hang", ""
    return queue.get() if not queue.empty() else (process.exitcode, "")


def classify(case: Case, status, err: str, changed: bool) -> str:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("loaded ")
             and "%|" not in line]
    if status == "hang":
        return "hang"
    if changed:
        return "harm"
    if status == "exception" or "Traceback" in err or status not in (0, 2):
        return "traceback"
    if status == 2:
        return "refused" if len(lines) == 1 and lines[0].startswith("longllada: error:") else "unclear"
    return "silent" if case.expect_refusal else "ran"


def run_case(case: Case) -> dict:
    for argv in case.before:
        invoke(argv)
    if case.between:
        shutil.copy(*case.between)
    before = {p: _digest(p) for p in case.guarded}
    status, err = invoke(case.argv)
    changed = any(_digest(p) != digest for p, digest in before.items())
    return {"kind": case.kind, "argv": case.argv, "outcome": classify(case, status, err, changed),
            "status": status, "stderr": err.strip().splitlines()[-1][:300] if err.strip() else ""}


def _numeric(action) -> bool:
    from longllada_theory.values import Length, Listing, Real, Whole

    parse = getattr(action, "settings_parse", None)
    name = getattr(action.type, "__name__", "")
    return isinstance(parse, (Whole, Real, Length, Listing)) or name in ("whole", "real", "length", "listing")


def option_cases(work: Path, per_option: int, rng: random.Random) -> list[Case]:
    """Every option of every command with hostile values."""
    from longllada_theory.cli.main import build_parser
    from longllada_theory.measure.protocol import PROTOCOLS

    parse_of = {f.name: f.metadata.get("parse") for cls in PROTOCOLS.values()
                for f in __import__("dataclasses").fields(cls.settings_type)}
    required = {"scale": ["llada", "--target", "16k"], "explain": ["llada"],
                "plot": [str(work / "none.jsonl"), "--output", str(work / "plot.png")],
                "compare": [str(work / "none.jsonl"), "--reference", "paper:figure2:LLaDA-8B-Base"],
                "report": [str(work / "empty")], "figures": ["--output", str(work / "figs"), "--only", "rope_periods"]}
    small = {"ppl": ["--max-length", "256", "--chunk", "64"], "niah": ["--lengths", "512", "--depths", "50"],
             "ruler": ["--lengths", "1k", "--tasks", "niah_single_1", "--samples", "1"],
             "attention": ["--length", "256"], "bench attention": ["--length", "256"],
             "bench ppl": ["--length", "256", "--repeats", "3"], "bench niah": ["--cells", "1"],
             "toy methods": ["--samples", "1"], "toy report": ["--stored"]}
    cases = []

    def walk(parser, words):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*words, name])
            elif words and action.option_strings and action.nargs != 0 and "--help" not in action.option_strings:
                command = " ".join(words)
                if command in ("toy train", "lm-eval"):
                    continue  # trains or starts the harness: covered by the other classes
                action.settings_parse = parse_of.get(action.dest)
                numeric = _numeric(action)
                values = rng.sample(NUMERIC_HOSTILE if numeric else TEXT_HOSTILE, per_option)
                base = required.get(command, ["toy:ar"] if command not in ("figures", "report", "toy report",
                                                                            "toy methods") else [])
                extra = small.get(command, [])
                output = ["--output", str(work / f"{command.replace(' ', '_')}.jsonl")] if command in PROTOCOLS else []
                for value in values:
                    argv = [*words, *base, *extra, *output, action.option_strings[-1], value]
                    hostile = value.strip() == "" or (numeric and value in ("nan", "inf", "-inf", "abc"))
                    cases.append(Case(f"option {command} {action.option_strings[-1]}", argv, hostile))
    walk(build_parser(), [])
    return cases


def config_cases(work: Path) -> list[Case]:
    """Configs a user might hand over, broken in every way the issue lists."""
    base = {"model_type": "llama", "hidden_size": 256, "num_attention_heads": 4, "rope_theta": 10000.0,
            "max_position_embeddings": 4096}
    broken = {
        "nan base": {**base, "rope_theta": float("nan")}, "inf base": {**base, "rope_theta": float("inf")},
        "zero base": {**base, "rope_theta": 0}, "negative base": {**base, "rope_theta": -5},
        "huge window": {**base, "max_position_embeddings": 1e308},
        "fraction window": {**base, "max_position_embeddings": 7.5},
        "string heads": {**base, "num_attention_heads": "4"}, "zero heads": {**base, "num_attention_heads": 0},
        "bool size": {**base, "hidden_size": True}, "llama3 factor 0": {**base, "rope_scaling": {
            "rope_type": "llama3", "factor": 0, "low_freq_factor": 1, "high_freq_factor": 4,
            "original_max_position_embeddings": 1024}},
        "llama3 missing keys": {**base, "rope_scaling": {"rope_type": "llama3", "factor": 8}},
        "yarn nan factor": {**base, "rope_scaling": {"rope_type": "yarn", "factor": float("nan")}},
        "unknown rope type": {**base, "rope_scaling": {"rope_type": "warp", "factor": 2}},
        "rope_parameters list": {**base, "rope_parameters": [1, 2]}, "text_config list": {"model_type": "llava",
                                                                                          "text_config": [1]},
        "text_config string": {"model_type": "llava", "text_config": "x"},
        "layer_types dict": {**base, "layer_types": {"a": 1}, "num_hidden_layers": 2},
        "layers 1e12": {**base, "num_hidden_layers": 10 ** 12}, "odd rotary": {**base, "head_dim": 63},
        "partial 2": {**base, "partial_rotary_factor": 2.0}, "no rope at all": {"model_type": "bert-like"},
        "array": [1, 2, 3], "null": None, "string": "config", "long factors wrong length": {**base, "rope_scaling": {
            "type": "longrope", "short_factor": [1.0], "long_factor": [1.0], "original_max_position_embeddings": 1024}},
    }
    files = {}
    for name, config in broken.items():
        path = work / "configs" / f"{name.replace(' ', '_')}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config))
        files[name] = path
    raw = {"deep nesting": "[" * 100_000 + "]" * 100_000, "100000-digit integer": '{"hidden_size": ' + "9" * 100_000 +
           "}", "not json": "{model_type: llama", "empty": "", "latin-1": None}
    for name, text in raw.items():
        path = work / "configs" / f"{name.replace(' ', '_')}.json"
        if text is None:
            path.write_bytes(json.dumps({**base, "model_type": "llamé"}, ensure_ascii=False).encode("latin-1"))
        else:
            path.write_text(text)
        files[name] = path
    fifo = work / "configs" / "fifo.json"
    os.mkfifo(fifo)
    files["fifo"] = fifo
    cases = []
    for name, path in files.items():
        for argv in (["scale", str(path), "--target", "64k"], ["explain", str(path), "--target", "64k"],
                     ["scale", str(path), "--target", "64k", "--method", "yarn", "--json"]):
            cases.append(Case(f"config {name} ({argv[0]})", argv, expect_refusal=name not in ()))
    return cases


def file_cases(work: Path) -> list[Case]:
    """Inputs that are not what they claim: folders, FIFOs, binary and empty files, files of the wrong kind."""
    inputs = work / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    (inputs / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (inputs / "empty.txt").write_text("")
    (inputs / "bad.jsonl").write_text('{"no_text": 1}\n')
    (inputs / "needles.jsonl").write_text("not json\n")
    os.mkfifo(inputs / "fifo")
    kinds = {"folder": inputs, "fifo": inputs / "fifo", "binary": inputs / "binary.txt", "empty": inputs / "empty.txt",
             "jsonl without field": inputs / "bad.jsonl", "missing": inputs / "missing.txt"}
    cases = []
    for name, path in kinds.items():
        out = str(work / "files" / f"{name.replace(' ', '_')}.jsonl")
        for argv in (["ppl", "toy:ar", "--max-length", "256", "--text", str(path), "--output", out],
                     ["niah", "toy:ar", "--lengths", "512", "--depths", "50", "--haystack", str(path), "--output", out],
                     ["niah", "toy:ar", "--lengths", "512", "--depths", "50", "--needles", str(path), "--output", out],
                     ["attention", "toy:ar", "--length", "256", "--text", str(path), "--output", out],
                     ["scale", "llada", "--target", "128k", "--factors", str(path)],
                     ["plot", str(path), "--output", str(work / "files" / "plot.png")],
                     ["report", str(path), "--output", str(work / "files" / "report")]):
            cases.append(Case(f"input {name} ({argv[0]})", argv, expect_refusal=True))
    return cases


def output_cases(work: Path) -> list[Case]:
    """Outputs that must not be written: foreign files, folders, FIFOs, read-only files, other protocols' results."""
    outputs = work / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    foreign_png, foreign_json = outputs / "photo.png", outputs / "notes.json"
    foreign_png.write_bytes(b"\x89PNG a photo")
    foreign_json.write_text('{"mine": true}')
    readonly = outputs / "readonly.jsonl"
    readonly.write_text("")
    readonly.chmod(0o444)
    os.mkfifo(outputs / "fifo.jsonl")
    report = outputs / "report"
    report.mkdir()
    (report / "report.md").write_text("my own notes")
    stored = str(Path(__file__).resolve().parents[1] / "longllada_theory" / "data" / "runs")
    ppl = str(Path(stored) / "ppl_smollm2_direct.jsonl")
    cases = [
        Case("output foreign png (plot)", ["plot", ppl, "--output", str(foreign_png)], True, [str(foreign_png)]),
        Case("output foreign json (toy report)", ["toy", "report", "--stored", "--output", str(foreign_json)], True,
             [str(foreign_json)]),
        Case("output foreign md (report)", ["report", stored, "--output", str(report)], True,
             [str(report / "report.md")]),
        Case("output foreign figure (figures)", ["figures", "--output", str(outputs), "--only", "rope_periods"],
             False, [str(foreign_png)]),
        Case("output fifo (ppl)", ["ppl", "toy:ar", "--max-length", "256", "--output", str(outputs / "fifo.jsonl")],
             True),
        Case("output folder (ppl)", ["ppl", "toy:ar", "--max-length", "256", "--output", str(outputs)], True),
        Case("output another protocol's results (niah)", ["niah", "toy:ar", "--lengths", "512", "--output", ppl], True,
             [ppl]),
        Case("output input as output (plot)", ["plot", ppl, "--output", ppl], True, [ppl]),
    ]
    if os.geteuid() != 0:  # root writes read-only files anyway
        cases.append(Case("output read-only (ppl)", ["ppl", "toy:ar", "--max-length", "256", "--output",
                                                   str(readonly)], True, [str(readonly)]))
    return cases


def resume_cases(work: Path) -> list[Case]:
    """One results file, then the same command with one thing changed: it must be refused, the file untouched."""
    from longllada_theory.models.sources import TWINS_DIR

    resume = work / "resume"
    resume.mkdir(parents=True, exist_ok=True)
    text_a, text_b = resume / "a.txt", resume / "b.txt"
    text_a.write_text("one text to read. " * 300)
    text_b.write_text("another text to read. " * 300)
    twin = resume / "twin"
    shutil.copytree(TWINS_DIR / "seed0" / "ar", twin)
    other_seed = TWINS_DIR / "seed1" / "ar" / "model.safetensors"
    cases = []
    for protocol, first, changed in (
            ("ppl", ["--max-length", "256", "--text", str(text_a)], ["--text", str(text_b)]),
            ("attention", ["--length", "256", "--text", str(text_a)], ["--text", str(text_b)]),
            ("attention", ["--length", "512", "--niah-depth", "50"], ["--haystack", str(text_b)]),
            ("niah", ["--lengths", "512", "--depths", "50"], ["--haystack", str(text_b)]),
            ("ppl", ["--max-length", "256"], ["--attn-implementation", "eager"]),
            ("ppl", ["--max-length", "256"], ["--dtype", "float64"]),
            ("ppl", ["--max-length", "256"], ["--rope-scale", "2"])):
        out = str(resume / f"{protocol}_{len(cases)}.jsonl")
        prepare = [protocol, str(twin), *first, "--output", out, "--no-progress"]
        cases.append(Case(f"resume {protocol} with {changed[0]}", [*prepare, *changed], True, [out], [prepare]))
    out = str(resume / "weights.jsonl")
    prepare = ["ppl", str(twin), "--max-length", "256", "--output", out, "--no-progress"]
    cases.append(Case("resume ppl with the weights of another seed", prepare, True, [out], [prepare],
                      (str(other_seed), str(twin / "model.safetensors"))))
    return cases


def sweep(values_per_option: int = 3, seed: int = 0) -> list[dict]:
    import torch  # noqa: F401  (imported once, before the workers fork)
    import transformers  # noqa: F401

    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="hostile-sweep-"))
    cwd = os.getcwd()
    os.chdir(work)
    try:
        cases = (option_cases(work, values_per_option, rng) + config_cases(work) + file_cases(work)
                 + output_cases(work) + resume_cases(work))
        return [run_case(case) for case in cases]
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write every case's outcome here (JSON)")
    parser.add_argument("--values-per-option", type=int, default=3)
    args = parser.parse_args()
    results = sweep(args.values_per_option)
    counts = collections.Counter(r["outcome"] for r in results)
    by_class = collections.defaultdict(collections.Counter)
    for r in results:
        by_class[r["kind"].split(" ")[0] + (" " + r["argv"][0] if r["kind"].startswith("option") else "")][
            r["outcome"]] += 1
    print(json.dumps({"cases": len(results), **counts}))
    for name, count in sorted(by_class.items()):
        print(f"  {name:<24} {dict(count)}")
    for r in results:
        if r["outcome"] not in ("refused", "ran"):
            print(f"{r['outcome']:>9}  {r['kind']}: {' '.join(r['argv'])[:160]}\n           {r['stderr'][:200]}")
    if args.out:
        Path(args.out).write_text(json.dumps({"counts": counts, "cases": results}, indent=1, default=str))
    sys.exit(0 if set(counts) <= {"refused", "ran"} else 1)


if __name__ == "__main__":
    main()
