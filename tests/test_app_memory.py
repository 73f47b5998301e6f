"""The page's server stays within --max-memory-mb under the worst upload within its limits
(#18): a 4000 x 4000 picture with 8 variants, in a child process whose peak resident memory
(VmHWM) is read from /proc. Slow: each full-size colouring of 16 million pixels takes seconds."""
import base64
import io
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anime_colorize.inference.memory import SAFETY_BYTES

# What requests may take above the model and the runtime (the server's own baseline, which
# differs between machines and TensorFlow builds, is measured first and added): 8 full-size
# variants (about 1.8 GB) do not fit, one (about 1.1 GB) does.
REQUESTS_MB = 1700


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


def post(url, body, timeout=600):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def start_server(model, max_memory_mb):
    """(process, URL of /api/colorize, the baseline MB the server measured for itself)."""
    proc = subprocess.Popen([sys.executable, "-m", "anime_colorize.app", "--model", str(model), "--port", "0",
                             "--max-memory-mb", str(max_memory_mb), "--busy-timeout", "600"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
    assert match, line + (proc.stderr.read() if proc.poll() is not None else "")
    for _ in range(50):  # the log line after the start, on stderr
        found = re.search(r"memory: ([\d.]+) MB for the model and runtime", proc.stderr.readline())
        if found:
            return proc, match.group(1) + "api/colorize", float(found.group(1))
    raise AssertionError("the server did not log its memory baseline")


def _png(rgb) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", optimize=True)
    return buf.getvalue()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from Linux /proc")
def test_a_4000x4000_upload_with_8_variants_stays_within_the_budget(tmp_path):
    from anime_colorize.export import save_keras
    from anime_colorize.models import UNetGenerator

    model = save_keras(UNetGenerator(z_dim=8, depth=4, filters=16, input_kind="lineart", working_size=64,
                                     hint_kinds=("points", "scribble", "histogram", "reference")),
                       tmp_path / "generator.keras")
    png = _png(np.full((4000, 4000, 3), 255, np.uint8))
    image = base64.b64encode(png).decode()
    assert len(png) < 100_000  # a few KB that decode to 16 million pixels
    strokes = np.zeros((4000, 4000, 4), np.uint8)
    strokes[1000:3000, 1000:3000] = (200, 30, 30, 255)
    buf = io.BytesIO()
    Image.fromarray(strokes, "RGBA").save(buf, "PNG")
    strokes = base64.b64encode(buf.getvalue()).decode()
    probe, _, baseline_mb = start_server(model, 8192)
    probe.terminate()
    probe.communicate(timeout=60)
    budget_mb = int(baseline_mb + SAFETY_BYTES / 2**20 + REQUESTS_MB)
    proc, url, _ = start_server(model, budget_mb)
    try:
        smooth = {"image": image, "seed": 1, "mode": "smooth"}
        # 8 full-size variants (about 1.8 GB) do not fit: coloured at the largest preview that does
        status, answer = post(url, dict(smooth, variants=8))
        assert status == 200, answer
        assert len(answer["variants"]) == 8 and (answer["full_width"], answer["full_height"]) == (4000, 4000)
        assert answer["width"] < 4000 and "memory budget" in answer["warnings"][0]
        # one of them at full size fits (the page's download)
        status, one = post(url, dict(smooth, variants=8, variant=3))
        assert status == 200, one
        assert (one["width"], one["height"]) == (4000, 4000) and len(one["variants"]) == 1
        # previews with a reference picture fit
        status, preview = post(url, dict(smooth, variants=8, max_side=1024, reference=image))
        assert status == 200 and (preview["width"], preview["height"]) == (1024, 1024)
        # a full-size stroke layer too (about 2.6 GB) can never fit: a clear 413
        status, refused = post(url, dict(smooth, variants=1, hints_png=strokes))
        assert status == 413 and "--max-memory-mb" in refused["error"], refused
        # flats (the default for line art) take more: segmenting, pooling, layers; 8 of them are
        # coloured smaller, one at full size (about 3.6 GB) is refused; the upload is read, without
        # its regions (about 2.1 GB), so the fill brush is off for it, said in a note
        status, flats = post(url, {"image": image, "seed": 1, "variants": 8})
        assert status == 200 and flats["mode"] == "flat" and flats["width"] < 4000, flats.get("error")
        status, refused = post(url, {"image": image, "seed": 1, "variants": 8, "variant": 0})
        assert status == 413 and "--max-memory-mb" in refused["error"], refused
        status, prepared = post(url.replace("colorize", "prepare"), {"image": image})
        assert status == 200 and "regions" not in prepared and "fill brush" in prepared["warnings"][0]
        small = base64.b64encode(_png(np.full((2000, 2000, 3), 255, np.uint8))).decode()
        status, prepared = post(url.replace("colorize", "prepare"), {"image": small})
        assert status == 200 and prepared["region_count"] == 1 and not prepared["warnings"]
        peak = peak_mb(proc.pid)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert peak <= budget_mb, f"peak {peak:.0f} MB over the {budget_mb} MB budget"
    assert "Traceback" not in err
    print(f"peak RSS {peak:.0f} MB of {budget_mb} MB (baseline {baseline_mb:.0f} MB)")
