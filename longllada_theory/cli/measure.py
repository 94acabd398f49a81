"""The measurement commands, one per registered protocol (:mod:`longllada_theory.measure.protocol`): MODEL and the
loading options, the run options, and the protocol's own options taken from its settings dataclass."""

from __future__ import annotations

import argparse

from ..measure.protocol import PROTOCOLS, Protocol, add_settings_arguments, run, settings_from_args
from ..measure.results import check_output, parse_shard
from .commands import COMMANDS, Command, add_loading_options, add_output_options, load, output_path, print_json


def measurement_command(protocol: type[Protocol]) -> Command:
    def arguments(parser: argparse.ArgumentParser) -> None:
        add_loading_options(parser)
        add_output_options(parser)
        add_settings_arguments(parser.add_argument_group(f"{protocol.name} settings"), protocol.settings_type)

    def handler(args: argparse.Namespace) -> int:
        shard = parse_shard(args.shard)
        settings = settings_from_args(protocol.settings_type, args, seed=args.seed)
        inputs = protocol.read_inputs(settings)        # bad input fails before the model loads
        output = output_path(args, protocol.name, settings, shard)
        check_output(output)                          # and so does an output it could not write
        loaded = load(args)
        measurement = protocol(loaded, settings, inputs)
        cells = run(measurement, output, shard, progress=not args.no_progress)
        summary = protocol.summarize(measurement.header(), cells)
        if args.json:
            print_json({"results": output, "model": loaded.name, "settings": loaded.settings(), **summary})
        else:
            print(f"{len(cells)} cells in {output}")
            print(measurement.describe(summary))
        return 0

    return Command(protocol.name, protocol.help, handler, arguments, protocol.description or protocol.help)


def register_measurements() -> None:
    """A command for every registered protocol (called when the parser is built, so late registrations count)."""
    for name, protocol in PROTOCOLS.items():
        COMMANDS[(None, name)] = measurement_command(protocol)
