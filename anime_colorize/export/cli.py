"""``python -m anime_colorize.export``: convert a trained generator to .keras, SavedModel or ONNX.

    python -m anime_colorize.export --model runs/x --format onnx --out generator.onnx
    python -m anime_colorize.export --model runs/x/generator.keras --format saved_model --out served/colorizer

``--model`` is a ``.keras`` file or a run folder holding ``generator.keras``: the Keras model is
what every format is written from (a SavedModel cannot be turned back into one). ONNX needs the
``[onnx]`` extra (``pip install 'anime_colorize[onnx]'``); its inputs and outputs are those of the
SavedModel, with dynamic batch, height and width (see :mod:`anime_colorize.export.onnx_format`).
The output is written atomically; an existing ``--out`` is kept unless ``--overwrite`` is
given, and never may it be (or hold) the model it is made from.
"""
from __future__ import annotations

from anime_colorize import cli_common  # noqa: I001  (first: it silences TensorFlow's start-up)

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

FORMATS = ("keras", "saved_model", "onnx")


def build_parser() -> argparse.ArgumentParser:
    from anime_colorize.export.onnx_format import DEFAULT_OPSET

    parser = argparse.ArgumentParser(prog="python -m anime_colorize.export",
                                     description=cli_common.summary_line(__doc__),
                                     epilog="ONNX inputs: l (batch, height, width, 1), z (batch, z_dim), and for hint "
                                            "models hint_ab, hint_mask (batch, height, width, 2 / 1), hint_hist "
                                            "(batch, 512); output ab (batch, height, width, 2), or lab (..., 3) for "
                                            "line art. The model's metadata JSON is in the ONNX metadata 'metadata'.")
    parser.add_argument("--model", required=True, help="a .keras file, or a run folder holding generator.keras")
    parser.add_argument("--format", required=True, choices=FORMATS, help="what to write")
    parser.add_argument("--out", required=True,
                        help="the file (.keras, .onnx) or folder (saved_model) to write")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help="ONNX opset version (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--unsafe", action="store_true",
                        help="allow a .keras file to run stored code (only for files you trust)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _is_or_holds(out: Path, model: Path) -> bool:
    """Whether writing ``out`` would replace ``model`` (the same path, or a folder above it)."""
    out, model = out.resolve(), model.resolve()
    return out == model or out in model.parents


def check_out(out: Path, fmt: str, model_paths: list[Path], overwrite: bool) -> str | None:
    """What is wrong with writing ``--format fmt`` to ``out``, or None."""
    from anime_colorize.export.loading import is_saved_model

    for model_path in model_paths:  # a new file inside a run folder is fine; replacing the model is not
        if _is_or_holds(out, model_path):
            return f"--out {out} is or holds the model {model_path}; choose another path"
    if fmt == "keras" and out.suffix != ".keras":
        return f"--out {out}: a Keras model file must end in .keras"
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            return f"--out {out}: {parent} is a file, not a folder"
    if out.exists() or out.is_symlink():
        if not overwrite:
            return f"--out {out} exists; add --overwrite to replace it"
        wants_folder = fmt == "saved_model"
        if out.is_dir() != wants_folder:
            return (f"--out {out} is a {'folder' if out.is_dir() else 'file'}, and --format {fmt} writes a "
                    f"{'folder' if wants_folder else 'file'}")
        if wants_folder and not is_saved_model(out):
            return f"--out {out} is a folder but not a SavedModel; it is not replaced, even with --overwrite"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    cli_common.quiet_tensorflow()
    args = build_parser().parse_args(argv)
    cli_common.setup_logging(args.verbose)
    from anime_colorize import export
    from anime_colorize.export.loading import is_saved_model
    from anime_colorize.export.saving import ServingModule

    out = Path(args.out)
    try:
        source = export.resolve_model_path(args.model)
    except (FileNotFoundError, ValueError) as e:
        return cli_common.fail(cli_common.describe(e))
    if is_saved_model(source):
        return cli_common.fail(f"{source} is a SavedModel; export needs the Keras model it was made from "
                               f"(a .keras file, or a run folder holding {export.KERAS_NAME})")
    problem = check_out(out, args.format, [Path(args.model), source], args.overwrite)
    if problem:
        return cli_common.fail(problem)
    if args.format == "onnx":
        from anime_colorize.export.onnx_format import check_opset
        try:  # before the model loads: say at once what is missing or wrong
            check_opset(args.opset)
        except (ImportError, ValueError) as e:
            return cli_common.fail(f"--opset: {e}" if isinstance(e, ValueError) else str(e))
    try:
        generator = export.load_keras_generator(source, safe_mode=not args.unsafe)
    except ValueError as e:
        return cli_common.fail(str(e).splitlines()[0])
    cli_common.log_device(mixed_precision=False)  # the loaded model computes in float32

    try:
        if args.format == "keras":
            export.save_keras(generator, out)
        elif args.format == "saved_model":
            export.save_saved_model(generator, out)
        else:
            export.save_onnx(generator, out, opset=args.opset)
    except OSError as e:
        return cli_common.fail(f"could not write {out}: {cli_common.describe(e)}", code=1)
    except ValueError as e:
        return cli_common.fail(str(e).splitlines()[0], code=1)
    meta = generator.metadata
    # the exported interface's own list (a region-pooling model also takes ``regions``)
    inputs = ", ".join(spec.name for spec in ServingModule(generator).input_specs)
    print(f"wrote {out} ({args.format}{f', opset {args.opset}' if args.format == 'onnx' else ''}): "
          f"inputs {inputs}; output {meta['output']}; {meta['input_kind']} input, working size "
          f"{meta['working_size']}, stride {meta['stride']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
