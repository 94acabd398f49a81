"""Measurement protocols and the one loop that runs them.

A protocol (perplexity, NIAH, attention, …) is one module holding one :class:`Protocol` subclass: its name, a frozen
settings dataclass (which, with the model's settings, is the results file's header), the cells it measures (one key
each), how they are grouped into batches, how a batch is computed, how finished cells are summarised, which of the
paper's claims they speak to and how they compare with the paper's published numbers (all from the results file
alone, so ``report`` and ``compare`` handle any registered protocol); its figure is chosen on the figures side
(:mod:`longllada_theory.figures.protocols`). :func:`run` is the only place that opens a results file, skips finished
cells, keeps to a shard, shows progress and appends each finished cell at once — so every protocol resumes and
shards the same way.

Registered protocols (:func:`register_protocol`) become ``longllada`` subcommands, their options taken from the
settings dataclass's fields' metadata (see :func:`option`).
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import MISSING, asdict, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import LongLLaDAError
from ..models.fingerprint import digest
from ..models.loading import DERIVED_FIELDS
from ..registry import Registry
from ..values import parsed
from .results import ANY, ResultsFile, shard_cells, writer_lock

if TYPE_CHECKING:
    from ..models.loading import LoadedModel
    from ..reference import Reference


def option(help: str, default: Any = MISSING, *, flag: str | None = None, parse: Callable[[str], Any] | None = None,
           choices: Callable[[], list[str]] | tuple[str, ...] | None = None, metavar: str | None = None,
           cli: bool = True, header: bool = True, legacy: Any = MISSING):
    """A settings field that is also a command-line option ``--name-with-dashes`` (or ``flag``).

    ``parse`` turns the option's text into the field's value (a parser of :mod:`longllada_theory.values`: ``Whole``,
    ``Real``, ``Length``, ``Listing``, …, whose ``expected`` text the help shows); ``choices`` may be a function, so
    they are read from a registry when the parser is built. ``cli=False`` keeps the field out of the command line (set
    by the library only); ``header=False`` keeps it out of the results
    header (it does not change a result, e.g. a field name in a file whose content is hashed elsewhere). ``legacy``
    is the value results files written before the field existed ran with: such a file resumes when the new value
    equals it (see :meth:`Protocol.legacy`)."""
    meta = {"help": help, "flag": flag, "parse": parse, "choices": choices, "metavar": metavar, "cli": cli,
            "header": header, "legacy": legacy}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


def add_settings_arguments(parser: argparse.ArgumentParser, settings_type: type, exclude: tuple[str, ...] = ()) -> None:
    """One option per settings field (see :func:`option`; ``exclude`` leaves some out); parsing and validation happen
    in :func:`settings_from_args`, so every error reads the same way."""
    for f in fields(settings_type):
        meta = f.metadata
        if not meta.get("cli", False) or f.name in exclude:
            continue
        flag = meta["flag"] or "--" + f.name.replace("_", "-")
        choices = _choices(f)
        default = f.default if f.default is not MISSING else (f.default_factory() if f.default_factory is not MISSING
                                                                  else None)
        help_text = meta["help"] + (f"; one of {', '.join(choices)}" if choices else "")
        expected = getattr(meta["parse"], "expected", None)
        help_text += f" [{expected}]" if expected and not choices else ""
        if default not in (None, False, MISSING) and "(default" not in meta["help"]:  # the help may say it itself
            shown = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in default) if isinstance(
                default, (tuple, list)) else default  # as the option is written
            help_text += f" (default: {shown})"
        help_text = help_text.replace("%", "%%")  # argparse formats help strings with %
        if f.type in ("bool", bool):
            parser.add_argument(flag, dest=f.name, action="store_true", help=meta["help"].replace("%", "%%"))
        else:
            parser.add_argument(flag, dest=f.name, default=None, metavar=meta["metavar"] or f.name.upper(),
                                help=help_text)


def _choices(f) -> list[str] | None:
    choices = f.metadata.get("choices")
    return list(choices() if callable(choices) else choices) if choices else None


def settings_from_args(settings_type: type, args: argparse.Namespace, **overrides):
    """The settings dataclass from parsed options: each given option parsed by its field's ``parse`` through
    :func:`~longllada_theory.values.parsed` (so no option can end in a traceback), the rest defaults; an empty value
    is an error, never "not given"; the dataclass validates the values (its errors name the parameter, the CLI turns
    it into a flag)."""
    values = {}
    for f in fields(settings_type):
        raw = getattr(args, f.name, None)
        if raw is None or not f.metadata.get("cli", False):
            continue
        if isinstance(raw, bool):  # a flag
            values[f.name] = raw
            continue
        flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
        if not str(raw).strip():
            raise LongLLaDAError(f"{flag}: an empty value; leave the option out for its default")
        choices = _choices(f)
        if choices and raw not in choices:
            raise LongLLaDAError(f"{flag}: {raw!r} is unknown; expected one of {', '.join(choices)}")
        parse = f.metadata.get("parse")
        values[f.name] = parsed(parse, raw, flag) if parse else raw
    return settings_type(**{**values, **overrides})


class Protocol(ABC):
    """One measurement (see module docstring). Subclasses set the class attributes and implement :meth:`keys` and
    :meth:`measure`; the others have defaults."""

    name: ClassVar[str]
    help: ClassVar[str]
    description: ClassVar[str] = ""
    settings_type: ClassVar[type]
    refused_by: ClassVar[str | None] = None  # the Family field that says why a family cannot be measured this way
    #: the paper's figures or tables (:mod:`~longllada_theory.reference`) its runs compare with; ``report`` compares a
    #: run of one of the paper's models with the first
    paper_figures: ClassVar[tuple[str, ...]] = ()

    def __init__(self, loaded: LoadedModel, settings: Any, inputs: Any = None):
        reason = getattr(getattr(loaded, "family", None), self.refused_by or "", None)
        if reason:
            raise LongLLaDAError(f"{self.name} cannot measure {loaded.name}: {reason}")
        self.loaded, self.settings = loaded, settings
        self.inputs = self.read_inputs(settings) if inputs is None else inputs
        self.prepare()

    @classmethod
    def read_inputs(cls, settings: Any) -> Any:
        """The files a run reads (texts, needles), read before the model is loaded so bad input fails fast."""
        return None

    def prepare(self) -> None:  # noqa: B027 (a hook: most protocols need no preparation)
        """Work that needs the model (tokenising the inputs); called once by ``__init__``."""

    def header(self) -> dict:
        """What defines the run in its results file, built here and only here: the model's settings (its checkpoint's
        fingerprint among them), every header field of the settings dataclass, the fingerprint of every input read
        (:meth:`read_inputs`: text, haystack, needles, task data), and what the protocol derives from them
        (:meth:`derived`, which may add fields, never replace one). A resume with any of them changed is refused."""
        keep = {f.name for f in fields(self.settings) if f.metadata.get("header", True)}
        header = {**self.loaded.settings(), **{k: v for k, v in asdict(self.settings).items() if k in keep},
                  "inputs": digest(self.inputs)}
        extra = self.derived()
        clash = sorted(set(extra) & set(header))
        if clash:
            raise TypeError(f"protocol {self.name}: derived() would replace header fields {clash}")
        return {**header, **extra}

    def derived(self) -> dict:
        """Header fields the protocol derives from its inputs and the model (e.g. a digest of the tokens read)."""
        return {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "header" in vars(cls):
            raise TypeError(f"{cls.__name__} defines header(); the runner builds every header (add fields with "
                            "derived())")

    def legacy(self) -> dict:
        """Header fields added after results files were first written, with the value those files ran with: the
        settings' (their ``legacy``) and the model's derived ones (any value: they follow from the rest)."""
        return {**dict.fromkeys(DERIVED_FIELDS, ANY),
                **{f.name: f.metadata["legacy"] for f in fields(self.settings)
                   if f.metadata.get("legacy", MISSING) is not MISSING}}

    @abstractmethod
    def keys(self) -> list[str]:
        """Every cell of the run, in order (the shard takes every N-th)."""

    def batches(self, keys: list[str]) -> list[list[str]]:
        """Groups of keys computed together (the same groups on every run, so resuming is exact)."""
        return [[key] for key in keys]

    @abstractmethod
    def measure(self, keys: list[str]) -> list[dict]:
        """Compute one batch; one cell (a dict with ``key``) per key."""

    @classmethod
    def summarize(cls, settings: dict, cells: list[dict]) -> dict:
        """A JSON-ready summary of finished cells, from a results file alone (its header's ``settings`` and its
        cells), so the command that ran it, ``report`` and the notebooks summarise a run the same way."""
        return {"cells": len(cells)}

    @classmethod
    def describe(cls, summary: dict) -> str:
        """The summary as lines for a person."""
        return "\n".join(f"{k}: {v}" for k, v in summary.items())

    @classmethod
    def result(cls, summary: dict) -> str:
        """The summary in one line (a row of ``report``'s table of runs)."""
        return "; ".join(f"{k} {v}" for k, v in summary.items() if isinstance(v, int | float | str))

    @classmethod
    def compare(cls, settings: dict, cells: list[dict], reference: Reference, tolerance: float) -> dict:
        """The run beside the paper's published numbers (one of :attr:`paper_figures`): a JSON-ready document with
        the differences, ``reproduced`` and the ``criterion`` it was judged by."""
        raise LongLLaDAError(f"{cls.name} results have no published numbers of the paper to compare with")

    @classmethod
    def describe_comparison(cls, document: dict) -> str:
        """:meth:`compare`'s document as lines for a person (the verdict is added by ``longllada compare``)."""
        return document["reference"]

    @classmethod
    def claims(cls, settings: dict, cells: list[dict]) -> list[dict]:
        """The paper's claims these results can speak to, each ``{"claim", "measured", "criterion", "agrees"}``
        (``report`` lists them; none by default)."""
        return []


def run(protocol: Protocol, output: str | None = None, shard: tuple[int, int] = (0, 1),
        progress: bool = True) -> list[dict]:
    """Run (or resume) ``protocol``: the cells of this shard not yet in ``output`` are computed batch by batch and
    each is appended to the results file as soon as it is done. Returns every cell of the shard, finished ones
    included, in order."""
    from tqdm.auto import tqdm

    with writer_lock(output):
        every = protocol.keys()
        keys = shard_cells(every, shard)
        store = ResultsFile.open(output, protocol.name, protocol.header(), shard, legacy=protocol.legacy(),
                                 cells=len(keys))
        pending = set(store.todo(every))
        todo = [batch for batch in protocol.batches(keys) if pending.intersection(batch)]
        with tqdm(total=sum(len(b) for b in todo), desc=f"{protocol.name} {protocol.loaded.name}", unit="cell",
                  disable=not progress) as bar:
            for batch in todo:
                for cell in protocol.measure(batch):
                    if cell["key"] not in store.done:
                        store.append(**cell)
                bar.update(len(batch))
    return [store.done[key] for key in keys if key in store.done]


PROTOCOLS: Registry[type[Protocol]] = Registry("protocols", "measurement protocol")


def register_protocol(cls: type[Protocol]) -> type[Protocol]:
    """Make a protocol a ``longllada`` subcommand (a class decorator); a name already registered raises."""
    PROTOCOLS.register(cls.name, cls)
    return cls


def protocol_of(name: str) -> type[Protocol]:
    return PROTOCOLS[name]
