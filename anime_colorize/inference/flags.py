"""The command-line flags every inference command shares, defined once.

``colorize``, ``sample`` and ``app`` build their parsers from these groups, and read them
back with the helpers below, so a flag, its help and its default are written in one place:

* :func:`add_model_flags`: ``--model``, ``--unsafe``, ``--working-size``;
* :func:`add_picture_flags`: ``--max-pixels``;
* :func:`add_output_flags`: ``--seed``, ``--batch-size``, ``--overwrite``, ``--quiet``,
  and :func:`add_mode_flags`: ``--mode`` and each output mode's own flags (flat mode:
  ``--shading``, ``--unhinted``, ``--gap``, ``--layers``, ``--psd``, ``--regions-out``);
* :func:`add_hint_flags`: ``--hints``, ``--hints-dir``, and the reference: ``--reference``
  (a coloured key picture or a folder of them), ``--reference-mode`` (``regions``: the key's
  colours carried region by region, :mod:`anime_colorize.regions.matching`; ``histogram``: its
  colour histogram given to a hint model as a palette) and ``--propagate``;
* :func:`add_chapter_flags`: ``--dpi``, ``--max-archive-mb``, ``--skip-colour`` (chapters:
  :mod:`anime_colorize.inference.chapters`).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from anime_colorize.data.io import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from anime_colorize.export.loading import LoadedGenerator
    from anime_colorize.inference.hint_files import HintSources
    from anime_colorize.inference.modes import OutputMode


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="generator.keras, a saved_model folder, or a run folder (default: the bundled line-art "
                             "model, trained on the built-in pictures, that takes every hint kind)")
    parser.add_argument("--unsafe", action="store_true",
                        help="allow a .keras file to run stored code (only for files you trust)")
    parser.add_argument("--working-size", type=int, default=None,
                        help="the size the network works at, in pixels on the picture's shorter side, rounded "
                             "to what the model needs (default: the size it was trained at); larger is slower "
                             "and shows more detail, and colours change with it")


def add_picture_flags(parser: argparse.ArgumentParser, default: int = DEFAULT_MAX_PIXELS,
                      what: str = "skip images", hint_pictures: bool = True) -> None:
    also = "; also applies to hint pictures and the reference" if hint_pictures else ""
    parser.add_argument("--max-pixels", type=int, default=default,
                        help=f"{what} with more pixels than this, read from the file header before decoding: "
                             f"a guard against decompression bombs{also} (default: %(default)s)")


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of the z list")
    parser.add_argument("--batch-size", type=int, default=8, help="(picture, z) pairs per network call")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace files of an earlier run in --out (without it they are kept and the run "
                             "is refused); inputs are never overwritten")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_mode_flags(parser)


def add_mode_flags(parser: argparse.ArgumentParser, writes_files: bool = True) -> None:
    """``--mode`` and each output mode's own flags (``writes_files``: the command writes files,
    so the flags asking for extra files apply)."""
    from anime_colorize.inference.modes import DEFAULT_MODES, MODES

    modes = parser.add_argument_group("output modes")
    by_kind = ", ".join(f"{mode} for {kind.replace('lineart', 'line-art')} models" for kind, mode in DEFAULT_MODES.items())
    modes.add_argument("--mode", choices=tuple(MODES), default=None,
                       help="what each colouring becomes: " + "; ".join(f"{n}: {m.help}" for n, m in MODES.items())
                            + f" (default: {by_kind})")
    for mode in MODES.values():
        mode.add_flags(modes, writes_files)


def add_hint_flags(parser: argparse.ArgumentParser) -> None:
    hints = parser.add_argument_group("colour hints (models trained with --hints)")
    hints.add_argument("--hints", default=None, help="hint file for a single input: points .json or strokes .png")
    hints.add_argument("--hints-dir", default=None, help="folder of <stem>.json / <stem>.png hint files")
    reference = parser.add_argument_group("colours from a coloured key (any model)")
    reference.add_argument("--reference", default=None, metavar="KEY|DIR",
                           help="a coloured picture of the character (a finished page, a character sheet, a frame "
                                "coloured earlier), or a folder of them: each drawing's regions are matched to the "
                                "key's, matched regions take the key's colours (and shading), the model colours the "
                                "rest, and hints override both; with a folder every region takes its best key "
                                "(flat mode; see --reference-mode)")
    reference.add_argument("--reference-mode", choices=REFERENCE_MODES, default="regions",
                           help="regions: as above (default); histogram: only the reference's colour histogram is "
                                "given to the model as a palette (one picture; models trained with --hints mix)")
    reference.add_argument("--propagate", action="store_true",
                           help="colour the inputs in order, each drawing matched to the colourings of the pages "
                                "before it (and to --reference, if given): a chapter coloured with hints on its "
                                "first page keeps its colours (flat mode)")


REFERENCE_MODES = ("regions", "histogram")


def keys_wanted(args: argparse.Namespace) -> bool:
    """Whether the flags ask for colours from keys: ``--reference`` in regions mode, or
    ``--propagate``."""
    regions = getattr(args, "reference_mode", "regions") == "regions"
    return bool(getattr(args, "propagate", False) or (getattr(args, "reference", None) and regions))


def load_reference_keys(args: argparse.Namespace) -> list:
    """The keys of ``--reference`` (none without it). A file must be a usable key (ValueError
    naming it, e.g. a gray picture); in a folder, unreadable or gray pictures are skipped with
    a warning naming each, and ValueError says when none is left."""
    from anime_colorize.data.io import ImageReadError, read_rgba
    from anime_colorize.regions import matching

    if not getattr(args, "reference", None):
        return []
    path = Path(args.reference)
    if not path.exists():
        raise ValueError(f"--reference not found: {path}")
    try:
        if path.is_dir():
            return matching.load_keys(path, max_pixels=args.max_pixels)
        return [matching.prepare_key(read_rgba(path, max_pixels=args.max_pixels), name=path.name)]
    except ImageReadError as e:
        raise ValueError(f"--reference {path}: {e.reason}") from None
    except ValueError as e:
        raise ValueError(f"--reference: {e}") from None


def add_chapter_flags(parser: argparse.ArgumentParser) -> None:
    from anime_colorize.inference.chapters import DEFAULT_DPI, DEFAULT_MAX_ARCHIVE_MB

    chapters = parser.add_argument_group("chapters (--input a .cbz/.zip archive or a .pdf; --out a folder or a .cbz/.zip)")
    chapters.add_argument("--dpi", type=float, default=DEFAULT_DPI,
                          help="resolution PDF pages are rendered at (default: %(default)s: a paperback manga "
                               "page becomes about 760x1080 px, the size of common scans)")
    chapters.add_argument("--max-archive-mb", type=float, default=DEFAULT_MAX_ARCHIVE_MB,
                          help="refuse an archive whose pages unpack to more than this many MB, read from its "
                               "directory before anything is extracted: a guard against archive bombs "
                               "(default: %(default)s)")
    chapters.add_argument("--skip-colour", "--skip-color", dest="skip_colour", action="store_true",
                          help="pass pages that are already in colour through unchanged (copied as they are)")


def check_numbers(args: argparse.Namespace) -> str | None:
    """A message for a number flag out of its range, else None."""
    for flag in ("max_pixels", "batch_size", "working_size", "num_samples", "dpi", "max_archive_mb"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            return f"--{flag.replace('_', '-')} must be at least 1"
    return None


def load_model(args: argparse.Namespace) -> LoadedGenerator:
    """The generator of ``--model`` (``--unsafe`` allows stored code), or the bundled model
    without it (``args.model`` then names it, for messages). Raises FileNotFoundError /
    ValueError naming the path."""
    import logging

    from anime_colorize.bundled import BUNDLED_NAME, bundled_model_path
    from anime_colorize.export import load_generator

    if args.model is None:
        args.model = str(bundled_model_path())
        logging.getLogger(__name__).info("no --model: using %s (%s)", BUNDLED_NAME, args.model)
        return load_generator(args.model, safe_mode=True)  # ours, and still loaded safely
    return load_generator(args.model, safe_mode=not args.unsafe)


def make_mode(args: argparse.Namespace, generator: LoadedGenerator | None = None) -> OutputMode:
    """The output mode of ``--mode`` (without it: the default for ``generator``'s input kind,
    :func:`anime_colorize.inference.modes.default_mode_name`), set up from its flags. Raises
    ValueError, with the message for the user, for flags of another mode."""
    from anime_colorize.inference.modes import DEFAULT_MODE, FlatMode, default_mode_name
    from anime_colorize.inference.modes import make_mode as make

    name = args.mode or (default_mode_name(generator.input_kind) if generator is not None else DEFAULT_MODE)
    if not keys_wanted(args):
        return make(name, args)
    # Keys colour regions: the flat mode, whatever the model's default.
    what = "--propagate" if args.propagate and not args.reference else "--reference"
    if args.mode not in (None, "flat"):
        raise ValueError(f"{what} carries colours region by region, so it works with --mode flat, not --mode "
                         f"{args.mode}" + ("" if what == "--propagate" else
                                           " (--reference-mode histogram gives a palette in any mode)"))
    if args.propagate and args.reference_mode == "histogram":
        raise ValueError("--propagate carries colours region by region; it does not work with "
                         "--reference-mode histogram")
    flat = make("flat", args)
    assert isinstance(flat, FlatMode)  # the mode registered as "flat"
    return flat.with_keys(load_reference_keys(args), propagate=args.propagate)


def hint_sources(args: argparse.Namespace, generator: LoadedGenerator, input_path: Path) -> HintSources | None:
    """The hint sources of ``--hints``, ``--hints-dir`` and ``--reference`` for this model and
    input. Raises ValueError with a message for flags that cannot work (hints for a model
    without them, a missing file), ImageReadError for a bad reference picture."""
    from anime_colorize.inference.hint_files import HintSources, blurred_hints_only, reference_histogram

    histogram = args.reference if getattr(args, "reference_mode", "histogram") == "histogram" else None
    given = [flag for flag, value in (("--hints", args.hints), ("--hints-dir", args.hints_dir),
                                      ("--reference-mode histogram", histogram)) if value]
    if not given:
        return None
    if not generator.hint_kinds:
        raise ValueError(f"{', '.join(given)} given, but {args.model} was trained without colour hints "
                         f"(--hints none); colour without them, or use a model trained with --hints mix")
    if args.hints and input_path.is_dir():
        raise ValueError("--hints takes the hints of one input file; for a folder use --hints-dir")
    if args.hints and not Path(args.hints).is_file():
        raise ValueError(f"hint file not found: {args.hints}")
    if args.hints_dir and not Path(args.hints_dir).is_dir():
        raise ValueError(f"--hints-dir is not a folder: {args.hints_dir}")
    reference = None
    if histogram:
        if Path(args.reference).is_dir():
            raise ValueError(f"--reference-mode histogram takes one picture, not a folder ({args.reference})")
        try:
            reference = reference_histogram(args.reference, max_pixels=args.max_pixels)
        except ValueError as e:
            raise ValueError(f"--reference: {e}") from None
    return HintSources(Path(args.hints) if args.hints else None, Path(args.hints_dir) if args.hints_dir else None,
                       reference, blurred_hints_only(generator), args.max_pixels)
