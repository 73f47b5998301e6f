"""Peak memory and wall time of the inference path (issue #18), in child processes.

    # colorize: one page, K samples (the peak RSS of the command)
    python experiments/inference_memory.py colorize --input ../shared/data/manga_bw/v01/black_jack_v01_pdf007.jpg \
        --num-samples 8
    # the page's server: a 4000 x 4000 white PNG, 8 variants, at full size (the server's peak RSS)
    python experiments/inference_memory.py app --side 4000 --variants 8 [-- --max-memory-mb 4096]

The model is an untrained line-art U-Net of the default size (depth 4, 16 filters, 64 px,
hints): memory and time do not depend on the weights. Arguments after ``--`` go to the
command. Prints one line of figures; run it on an idle machine for times that mean something.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

MAKE_MODEL = """
import sys
from anime_colorize import cli_common  # noqa: F401  (quiet TensorFlow)
import keras
from anime_colorize.export import save_keras
from anime_colorize.models import UNetGenerator
keras.utils.set_random_seed(0)
save_keras(UNetGenerator(z_dim=8, depth=4, filters=16, input_kind="lineart", working_size=64,
                         hint_kinds=("points", "scribble", "histogram", "reference")), sys.argv[1])
"""


def make_model(folder: Path) -> Path:
    path = folder / "generator.keras"
    subprocess.run([sys.executable, "-c", MAKE_MODEL, str(path)], check=True)
    return path


def run_colorize(model: Path, args, extra: list, folder: Path) -> str:
    command = [sys.executable, "-m", "anime_colorize.colorize", "--model", str(model), "--input", args.input,
               "--num-samples", str(args.num_samples), "--out", str(folder / "out"), "--quiet"] + extra
    start = time.perf_counter()
    code = subprocess.call(command, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child: colorize
    return f"colorize {args.input} x{args.num_samples}: exit {code}, {seconds:.1f} s, peak RSS {peak:.0f} MB"


def run_app(model: Path, args, extra: list) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.full((args.side, args.side, 3), 255, np.uint8)).save(buf, "PNG", optimize=True)
    body = json.dumps({"image": base64.b64encode(buf.getvalue()).decode(), "variants": args.variants}).encode()
    server = subprocess.Popen([sys.executable, "-m", "anime_colorize.app", "--model", str(model), "--port", "0"]
                              + extra, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = re.search(r"at (http://\S+/)", server.stdout.readline()).group(1)
        request = urllib.request.Request(url + "api/colorize", data=body, headers={"Content-Type": "application/json"})
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=3600) as r:
            answer = json.loads(r.read())
        seconds = time.perf_counter() - start
        status = Path(f"/proc/{server.pid}/status").read_text()
        peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
    finally:
        server.terminate()
        server.wait(60)
    return (f"app {args.side}x{args.side} white PNG ({len(buf.getvalue()):,} bytes), {args.variants} variants: "
            f"answered {answer['width']}x{answer['height']} x{len(answer['variants'])} {answer['warnings']} "
            f"in {seconds:.1f} s, server peak RSS {peak:.0f} MB")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    one = sub.add_parser("colorize")
    one.add_argument("--input", required=True)
    one.add_argument("--num-samples", type=int, default=8)
    page = sub.add_parser("app")
    page.add_argument("--side", type=int, default=4000)
    page.add_argument("--variants", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        model = make_model(Path(folder))
        print(run_colorize(model, args, extra, Path(folder)) if args.what == "colorize" else run_app(model, args, extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
