"""``anime-colorize``: every tool of the package behind one command.

    anime-colorize --help                  # the commands, one line each
    anime-colorize colorize --help         # a command's own options
    anime-colorize colorize --model runs/x --input page.png --out page_color.png

``anime-colorize X ARGS`` is ``python -m anime_colorize.X ARGS``: it calls the command's
``main(ARGS)`` in the same process and exits with its code. Adding a command = one entry in
:data:`COMMANDS`; its one-line description is read from its module's docstring without
importing it (so ``--help`` does not load TensorFlow).
"""
from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from anime_colorize import __version__

# command -> the module whose main(argv) -> int runs it
COMMANDS = {
    "train": "anime_colorize.train",
    "sample": "anime_colorize.sample",
    "colorize": "anime_colorize.colorize",
    "evaluate": "anime_colorize.evaluate",
    "benchmark": "anime_colorize.benchmark",
    "app": "anime_colorize.app",
    "export": "anime_colorize.export.cli",
}


def summary(module: str) -> str:
    """The one-line description of a command module (:func:`cli_common.summary_line` of its
    docstring), read from its source rather than imported: a command imports the whole stack."""
    from anime_colorize import cli_common

    spec = importlib.util.find_spec(module)
    source = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
    doc = ast.get_docstring(ast.parse(source))
    return cli_common.summary_line(doc) if doc else ""


def build_parser() -> argparse.ArgumentParser:
    width = max(map(len, COMMANDS)) + 2
    listing = "\n".join(f"  {name:<{width}}{summary(module)}" for name, module in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="anime-colorize", usage="%(prog)s [-h] [--version] COMMAND [ARGS ...]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Colorize anime and manga in Lab space with noise-conditioned U-Nets.\n\ncommands:\n" + listing,
        epilog="Run 'anime-colorize COMMAND --help' for a command's options. Each command is also\n"
               "'python -m anime_colorize.COMMAND'.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("command", metavar="COMMAND", choices=list(COMMANDS), help="one of the commands above")
    return parser


def _exit_code(stop: SystemExit) -> int:
    if stop.code is None or isinstance(stop.code, int):
        return stop.code or 0
    print(stop.code, file=sys.stderr)  # sys.exit("message") prints it and exits 1
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``anime-colorize COMMAND ARGS``; returns the exit code (2 for an unknown command,
    with the known ones listed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        # only the command name is parsed here: everything after it is the command's
        args = build_parser().parse_args(argv[:1])
        from anime_colorize import cli_common

        cli_common.quiet_tensorflow()  # before the command imports TensorFlow

        command = importlib.import_module(COMMANDS[args.command])
        return int(command.main(argv[1:]))
    except SystemExit as stop:  # argparse's --help and usage errors, here or in the command
        return _exit_code(stop)


if __name__ == "__main__":
    sys.exit(main())
