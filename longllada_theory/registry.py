"""Named entries of one kind (protocols, model families, scaling methods, RoPE types, samplers, prompt formats, RULER
tasks, figures, derivations), as transformers keeps ``ROPE_INIT_FUNCTIONS``: one mapping per kind, read like a dict.

Every registry follows the same rules: registering a name twice raises (an entry is never replaced silently); an
unknown name is refused in one line that suggests the closest names; an entry may be given lazily as
``"module:attribute"`` and is imported on first use; and a third-party package adds entries without editing this one,
through the entry-point group ``longllada_theory.<registry name>`` (e.g. ``[project.entry-points."longllada_theory.
protocols"] my-protocol = "my_package.protocol:MyProtocol"``), read the first time the registry is asked (a name
this package registers itself keeps its own entry).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from .errors import LongLLaDAError

T = TypeVar("T")
GROUP = "longllada_theory."


class UnknownName(LongLLaDAError, KeyError):
    """A name no registry entry has (a :class:`LongLLaDAError` for the user, a ``KeyError`` for ``Mapping`` code)."""

    __str__ = LongLLaDAError.__str__


class Registry(Mapping[str, T], Generic[T]):
    """Entries of one kind by name. ``what`` names an entry in messages ("scaling method"); ``name`` is the
    registry's own name, which gives its entry-point group."""

    def __init__(self, name: str, what: str, entries: Mapping[str, T | str] | None = None):
        self.name, self.what = name, what
        self._entries: dict[str, T | str] = {}
        self._plugins_read = False
        for key, entry in (entries or {}).items():
            self.register(key, entry)

    def register(self, name: str, entry: T | str) -> T | str:
        """Add ``entry`` under ``name`` (a ``"module:attribute"`` string is imported on first use); a name already
        registered raises."""
        if name in self._entries:
            raise LongLLaDAError(f"{self.what} {name!r} is registered already; an entry is never replaced, register "
                                 "yours under another name")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove an entry (for tests that register one of their own)."""
        self._entries.pop(name, None)

    def __getitem__(self, name: str) -> T:
        return self.entry(name)

    def entry(self, name: str, parameter: str | None = None) -> T:
        """The entry ``name``; an unknown name is refused with the closest names (``parameter``: the option that
        gave it, which the command line names as its flag)."""
        self._read_plugins()
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), list(self._entries), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UnknownName(f"{self.what} {name!r} is unknown{hint}; expected one of {', '.join(self._entries)}",
                              parameters=(parameter,) if parameter else ())
        entry = self._entries[name]
        if isinstance(entry, str) and ":" in entry:
            module, attribute = entry.split(":", 1)
            entry = self._entries[name] = getattr(importlib.import_module(module), attribute)
        return entry

    def get(self, name: str, default: T | None = None) -> T | None:
        return self[name] if name in self else default

    def __contains__(self, name: object) -> bool:
        self._read_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self._read_plugins()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self._read_plugins()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.name!r}: {', '.join(self._entries)})"

    def _read_plugins(self) -> None:
        """Entries other packages declare in the entry-point group ``longllada_theory.<name>`` (read once)."""
        if self._plugins_read:
            return
        self._plugins_read = True
        from importlib.metadata import entry_points

        for point in entry_points(group=GROUP + self.name):
            if point.name not in self._entries:
                self._entries[point.name] = point.value
