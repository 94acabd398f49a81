"""``longllada compare``: results files beside the paper's published numbers (:mod:`~longllada_theory.reference`),
compared by the protocol that measured them (:meth:`~longllada_theory.measure.protocol.Protocol.compare`)."""

from __future__ import annotations

from ..errors import LongLLaDAError
from ..reference import Reference, parse_reference
from .protocol import PROTOCOLS, Protocol
from .results import load_results


def protocol_for(reference: Reference) -> type[Protocol]:
    """The protocol whose runs compare with ``reference``'s figure or table (its ``paper_figures``)."""
    for name in PROTOCOLS:
        if reference.figure in PROTOCOLS[name].paper_figures:
            return PROTOCOLS[name]
    raise LongLLaDAError(f"no protocol compares with the paper's {reference.figure}")


def compare(paths: list[str], name: str, tolerance: float = 0.05, any_model: bool = False) -> tuple[dict, list[dict]]:
    """Compare results files with the reference ``name``; returns the comparison document and the cells compared (for
    :func:`~longllada_theory.figures.compare.comparison_figure`). The results must be the reference's protocol's and,
    unless ``any_model``, of the reference's model."""
    reference = parse_reference(name)
    protocol = protocol_for(reference)
    results = load_results(paths)
    if results.protocol != protocol.name:
        raise LongLLaDAError(f"the results are {results.protocol!r} results; reference {name} needs "
                             f"{protocol.name!r} results (from `longllada {protocol.name}`)")
    model = str(results.settings.get("model", "")).rstrip("/")
    if not any_model and not reference.is_of(model):
        raise LongLLaDAError(f"the results are for model {model!r}, not {reference.model!r} (reference "
                             f"{reference.name}); pass any_model to compare anyway", parameters=("any_model",))
    cells = list(results.cells)
    document = protocol.compare(results.settings, cells, reference, tolerance)
    return {**document, "results": [str(p) for p in paths], "model": results.settings.get("model")}, cells


def describe(document: dict) -> str:
    """A comparison document for a person: the protocol's lines, the verdict with its criterion, and any note."""
    protocol = protocol_for(parse_reference(document["reference"]))
    notes = [f"{key}: {document[key]}" for key in ("partial", "note") if document.get(key)]
    return "\n".join([protocol.describe_comparison(document), f"{verdict(document).upper()} "
                      f"({document['criterion']})", *notes])


def verdict(document: dict) -> str:
    """A comparison's verdict in words: reproduced, not reproduced, or none (a partial comparison)."""
    if document.get("partial"):
        return "partial (no verdict)"
    return "reproduced" if document["reproduced"] else "not reproduced"
