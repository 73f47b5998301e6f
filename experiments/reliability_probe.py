"""Reliability probe (issue 18): runs the commands as a hostile but realistic user would, as
subprocesses, on a tiny model trained here and small synthetic pictures, and prints one row per
case: exit code, the first line of what the command said, whether a traceback reached the user,
whether the inputs are intact, and a verdict.

    python experiments/reliability_probe.py                       # every case (a long run)
    python experiments/reliability_probe.py --only hint,overwrite  # cases whose name has a word
    python experiments/reliability_probe.py --workdir /tmp/probe   # keep (and reuse) the model

Each case says what it expects: ``refuse`` (a clear message, exit code not 0), ``partial`` (the
good inputs coloured, the bad ones named, exit code not 0) or ``ok`` (exit code 0). A case FAILS
when a traceback reaches the user, an input changes, a file the case forbids appears, or the
exit code is not the expected kind. Runs as root drop to ``nobody`` (setpriv) for the cases that
need file permissions to mean something (an unreadable input, a read-only output folder).

Not a test (it takes minutes: every case starts TensorFlow); tests/test_reliability.py and the
other tests hold the fast checks of each fix.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
NOBODY = 65534


@dataclass
class Case:
    name: str
    argv: list[str]  # after "python -m anime_colorize."
    expect: str  # "refuse", "partial" or "ok"
    inputs: list[Path] = field(default_factory=list)  # must be byte-identical afterwards
    forbidden: list[Path] = field(default_factory=list)  # must not exist afterwards
    as_nobody: bool = False
    check: Callable[[], str | None] | None = None  # extra check: None, or what is wrong
    timeout: float = 600.0


@dataclass
class Outcome:
    case: Case
    code: int | None
    message: str
    traceback: bool
    intact: bool
    verdict: str
    seconds: float


# --- files --------------------------------------------------------------------------------------
def write_png(path: Path, height: int, width: int, seed: int = 0, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    if mode == "RGBA":
        pixels[..., 3] = 0
        pixels[: height // 4, : width // 4, 3] = 255  # one opaque stroke block
    Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(path)
    return path


def png_bomb(path: Path, side: int) -> Path:
    """A white PNG of side x side pixels written row by row (tiny file, huge when decoded)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * (side * 3)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def digest(paths: list[Path]) -> dict:
    out = {}
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            try:
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
            except OSError as e:
                out[str(f)] = f"unreadable: {e}"
    return out


# --- running ------------------------------------------------------------------------------------
def command_env(work: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "KERAS_"))}
    env["HOME"] = str(work / "home")
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_command(argv: list[str], work: Path, as_nobody: bool = False, timeout: float = 600.0
                ) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", f"anime_colorize.{argv[0]}", *argv[1:]]
    if as_nobody and os.geteuid() == 0:
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
    return subprocess.run(command, cwd=ROOT, env=command_env(work), capture_output=True, text=True,
                          timeout=timeout)


# tqdm's "colouring:  50%|#####     | 1/2 [00:01<00:01, 1.2img/s]", maybe with a message after it
PROGRESS_BAR = re.compile(r"^[\w ]+:\s+\d+%\|[^|]*\|[^\]]*\]")


def first_line(text: str) -> str:
    """The first line the user reads: not a progress bar, not the device line."""
    for line in re.split(r"[\r\n]", text):
        line = PROGRESS_BAR.sub("", line.strip()).strip()
        if line and not line.startswith(("Device:", "device:")):
            return line
    return ""


def run_case(case: Case, work: Path) -> Outcome:
    before = digest(case.inputs)
    start = time.monotonic()
    try:
        result = run_command(case.argv, work, case.as_nobody, case.timeout)
        code, out, err = result.returncode, result.stdout, result.stderr
    except subprocess.TimeoutExpired as e:
        code, out, err = None, str(e.stdout or ""), f"timed out after {case.timeout:.0f} s"
    seconds = time.monotonic() - start
    text = err + "\n" + out
    traceback = "Traceback (most recent call last)" in text
    intact = digest(case.inputs) == before
    problems = []
    if traceback:
        problems.append("traceback")
    if not intact:
        problems.append("input changed")
    problems += [f"{p.name} exists" for p in case.forbidden if p.exists()]
    if code is None:
        problems.append("timeout")
    elif code < 0:
        problems.append(f"killed by signal {-code}")
    elif case.expect == "ok" and code != 0:
        problems.append(f"exit {code}, expected 0")
    elif case.expect in ("refuse", "partial") and code == 0:
        problems.append(f"exit 0, expected a refusal" if case.expect == "refuse" else "exit 0 after a skip")
    if case.check is not None and not problems:
        extra = case.check()
        if extra:
            problems.append(extra)
    message = first_line(err) or first_line(out)
    return Outcome(case, code, message, traceback, intact, "; ".join(problems) or "ok", seconds)


# --- the model ------------------------------------------------------------------------------------
def train_model(work: Path) -> Path:
    run = work / "run"
    if (run / "generator.keras").is_file():
        return run
    argv = ["train", "--out", str(run), "--steps", "2", "--size", "32", "--batch-size", "2", "--num-images", "8",
            "--filters", "8", "--depth", "2", "--hints", "points", "--checkpoint-every", "1",
            "--sample-every", "1", "--log-every", "1", "--quiet"]
    result = run_command(argv, work)
    if result.returncode != 0:
        sys.exit(f"training the probe model failed:\n{result.stderr[-3000:]}")
    return run


def malicious_saved_model(folder: Path, target: Path) -> Path:
    """A SavedModel with our signatures whose metadata signature writes ``target`` (built by
    tests/test_model_trust.py's helper)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # this process's own start-up noise
    import tensorflow as tf

    sys.path.insert(0, str(ROOT / "tests"))
    from test_model_trust import METADATA, save_module

    def write_then_describe():
        with tf.control_dependencies([tf.io.write_file(str(target), "owned")]):
            return tf.constant(json.dumps(METADATA))

    return save_module(folder, write_then_describe)


# --- the cases ------------------------------------------------------------------------------------
def build_cases(work: Path, run: Path) -> list[Case]:
    model = str(run / "generator.keras")
    pics = work / "pics"
    pics.mkdir(exist_ok=True)
    a = write_png(pics / "a.png", 40, 48, 1)
    b = write_png(pics / "b.png", 36, 36, 2)
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)  # a reused --workdir starts without earlier outputs
    shutil.rmtree(work / "shared", ignore_errors=True)
    out.mkdir()
    cases: list[Case] = []

    def add(name: str, argv: list[str], expect: str, **kw) -> None:
        cases.append(Case(name, argv, expect, **kw))

    # 2. model trust ------------------------------------------------------------------------------
    pwned = work / "pwned_by_model.txt"
    evil = malicious_saved_model(work / "evil_saved_model", pwned)
    add("trust: colorize --model <SavedModel that writes a file>",
        ["colorize", "--model", str(evil), "--input", str(a), "--out", str(out / "trust_c")], "refuse",
        inputs=[pics], forbidden=[pwned])
    add("trust: sample --model <SavedModel that writes a file>",
        ["sample", "--model", str(evil), "--input", str(a), "--out", str(out / "trust_s.png"), "--grid", "1x2"],
        "refuse", inputs=[pics], forbidden=[pwned])
    add("trust: evaluate --model <SavedModel that writes a file>",
        ["evaluate", "--model", str(evil), "--data", str(pics), "--out", str(out / "trust_e"), "--quiet"], "refuse",
        inputs=[pics], forbidden=[pwned])
    add("trust: app --model <SavedModel that writes a file>",
        ["app", "--model", str(evil), "--port", "0"], "refuse", inputs=[pics], forbidden=[pwned], timeout=300)
    only_saved = work / "run_without_keras"
    if not only_saved.exists():
        shutil.copytree(run / "saved_model", only_saved / "saved_model")
    add("trust: run folder without generator.keras (falls back, says so)",
        ["colorize", "--model", str(only_saved), "--input", str(a), "--out", str(out / "fallback"), "--quiet"], "ok",
        inputs=[pics])

    # 3. never overwrite an input -----------------------------------------------------------------
    add("overwrite: colorize --input a.png --out a.png",
        ["colorize", "--model", model, "--input", str(a), "--out", str(a)], "refuse", inputs=[pics])
    add("overwrite: colorize --input pics/ --out pics/",
        ["colorize", "--model", model, "--input", str(pics), "--out", str(pics)], "refuse", inputs=[pics])
    add("overwrite: sample --grid 2x2 --out <its input>",
        ["sample", "--model", model, "--input", str(a), "--out", str(a), "--grid", "2x2"], "refuse", inputs=[pics])
    again = out / "again"
    add("overwrite: colorize into --out of an earlier run (first run)",
        ["colorize", "--model", model, "--input", str(pics), "--out", str(again), "--quiet"], "ok", inputs=[pics])
    add("overwrite: colorize into --out of an earlier run (second run, no --overwrite)",
        ["colorize", "--model", model, "--input", str(pics), "--out", str(again), "--quiet"], "refuse",
        inputs=[pics, again])

    # 4. per-file isolation -------------------------------------------------------------------------
    for label, text in (("200,000-deep hint JSON", "[" * 200_000 + "]" * 200_000),
                        ("12 MB hint JSON", json.dumps({"points": [{"x": 1, "y": 1, "rgb": [255, 0, 0]}] * 400_000}))):
        hints_dir = work / f"hints_{len(text)}"
        hints_dir.mkdir(exist_ok=True)
        (hints_dir / "a.json").write_text(text)
        coloured = out / f"hints_{len(text)}"
        add(f"isolation: {label} among good inputs",
            ["colorize", "--model", model, "--input", str(pics), "--hints-dir", str(hints_dir),
             "--out", str(coloured), "--quiet"], "partial", inputs=[pics, hints_dir],
            check=lambda coloured=coloured: None if (coloured / "b.png").is_file() else "the good b.png not coloured")
    mixed = work / "mixed"
    mixed.mkdir(exist_ok=True)
    shutil.copy(a, mixed / "good.png")
    (mixed / "broken.png").write_bytes(a.read_bytes()[:100])
    (mixed / "text.png").write_text("not a picture")
    add("isolation: a folder with a truncated PNG and a text file named .png",
        ["colorize", "--model", model, "--input", str(mixed), "--out", str(out / "mixed"), "--quiet"], "partial",
        inputs=[mixed], check=lambda: None if (out / "mixed" / "good.png").is_file() else "good.png not coloured")

    # 5. damaged checkpoint ----------------------------------------------------------------------------
    resume = work / "run_resume"
    if resume.exists():
        shutil.rmtree(resume)
    shutil.copytree(run, resume)
    newest = resume / "checkpoints" / "ckpt-2.data-00000-of-00001"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    damaged = newest.read_bytes()

    def damaged_kept() -> str | None:  # moved aside (checkpoints/damaged/), never changed or deleted
        kept = [p for p in (resume / "checkpoints").rglob(newest.name) if p.read_bytes() == damaged]
        return None if kept else "the damaged checkpoint was changed or deleted"

    add("checkpoint: train --resume past a truncated newest checkpoint",
        ["train", "--out", str(resume), "--resume", "--steps", "3", "--quiet"], "ok", check=damaged_kept)

    # 6. the smaller ones ---------------------------------------------------------------------------
    stroke_bomb = png_bomb(work / "stroke_bomb.png", 7999)
    add("hint: 7999^2 stroke PNG over --max-pixels",
        ["colorize", "--model", model, "--input", str(a), "--hints", str(stroke_bomb), "--max-pixels", "1000000",
         "--out", str(out / "bomb_hint.png")], "refuse", inputs=[pics, stroke_bomb])
    reference_bomb = png_bomb(work / "reference_bomb.png", 7999)
    add("hint: reference picture over --max-pixels",
        ["colorize", "--model", model, "--input", str(a), "--reference", str(reference_bomb),
         "--max-pixels", "1000000", "--out", str(out / "bomb_ref.png")], "refuse", inputs=[pics, reference_bomb])
    outside = work / "outside.json"
    outside.write_text(json.dumps({"points": [{"x": 5000, "y": -20, "rgb": [255, 0, 0]}]}))
    add("hint: points outside the picture (clipped, named)",
        ["colorize", "--model", model, "--input", str(a), "--hints", str(outside), "--out", str(out / "outside.png")],
        "ok", inputs=[pics, outside])
    truncated = work / "truncated.keras"
    truncated.write_bytes((run / "generator.keras").read_bytes()[:5000])
    add("load: truncated .keras", ["colorize", "--model", str(truncated), "--input", str(a),
                                   "--out", str(out / "trunc")], "refuse", inputs=[pics, truncated])
    add("load: --model that does not exist", ["colorize", "--model", str(work / "nothing.keras"), "--input", str(a),
                                              "--out", str(out / "none")], "refuse", inputs=[pics])
    add("load: --model is a picture", ["colorize", "--model", str(a), "--input", str(b),
                                      "--out", str(out / "pic_model")], "refuse", inputs=[pics])
    a_file = work / "a_file"
    a_file.write_text("x")
    add("out: --out under a file", ["colorize", "--model", model, "--input", str(a),
                                    "--out", str(a_file / "x.png")], "refuse", inputs=[pics, a_file])
    (out / "taken.png").mkdir(exist_ok=True)
    add("out: a folder named like the output file", ["colorize", "--model", model, "--input", str(a),
                                                     "--out", str(out / "taken.png")], "refuse", inputs=[pics])
    add("out: --out under /dev/full (a full disk)", ["colorize", "--model", model, "--input", str(a),
                                                    "--out", "/dev/full/x.png"], "refuse", inputs=[pics])

    # permissions: as nobody, since root reads and writes everything
    shared = work / "shared"
    shared.mkdir(exist_ok=True)
    shutil.copy(a, shared / "a.png")
    secret = shutil.copy(b, shared / "secret.png")
    os.chmod(secret, 0o000)
    readonly = shared / "readonly_out"
    readonly.mkdir(exist_ok=True)
    os.chmod(readonly, 0o555)
    for path in (work, shared, work / "home"):
        path.mkdir(exist_ok=True)
        os.chmod(path, 0o777 if path.name == "home" else 0o755)
    os.chmod(shared, 0o777)
    for path in [run, *run.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    add("perm: an unreadable input among readable ones",
        ["colorize", "--model", model, "--input", str(shared), "--out", str(shared / "perm_out"), "--quiet"],
        "partial", as_nobody=True, inputs=[shared / "a.png"],
        check=lambda: None if (shared / "perm_out" / "a.png").is_file() else "a.png not coloured")
    add("perm: a read-only output folder", ["colorize", "--model", model, "--input", str(shared / "a.png"),
                                            "--out", str(readonly / "x.png")], "refuse", as_nobody=True,
        inputs=[shared / "a.png"])

    # bad flags
    for flags in (["--num-samples", "0"], ["--batch-size", "-1"], ["--working-size", "0"], ["--seed", "abc"],
                  ["--max-pixels", "0"], ["--mode", "nonsense"], ["--no-such-flag"], ["--gap", "-3"]):
        add(f"flags: colorize {' '.join(flags)}", ["colorize", "--model", model, "--input", str(a),
                                                   "--out", str(out / "flags"), *flags], "refuse", inputs=[pics])
    for grid in ("0x3", "2x", "axb", "1000x1000"):
        add(f"flags: sample --grid {grid}", ["sample", "--model", model, "--input", str(a), "--grid", grid,
                                             "--out", str(out / f"grid_{grid}.png")], "refuse", inputs=[pics])
    add("flags: train --steps -5", ["train", "--out", str(work / "run_bad"), "--steps", "-5"], "refuse")
    add("flags: train --size 30 (not a multiple)", ["train", "--out", str(work / "run_bad2"), "--size", "30",
                                                    "--steps", "1"], "refuse")
    add("flags: evaluate --lines without --colors", ["evaluate", "--model", model, "--lines", str(pics),
                                                     "--out", str(out / "eval_bad")], "refuse", inputs=[pics])
    add("flags: app --port 70000", ["app", "--model", model, "--port", "70000"], "refuse")
    add("input: --input that does not exist", ["colorize", "--model", model, "--input", str(work / "nothing.png"),
                                               "--out", str(out / "nothing")], "refuse")
    empty = work / "empty"
    empty.mkdir(exist_ok=True)
    add("input: an empty folder", ["colorize", "--model", model, "--input", str(empty), "--out", str(out / "empty")],
        "refuse")
    add("input: a picture bomb over --max-pixels", ["colorize", "--model", model, "--input", str(stroke_bomb),
                                                    "--max-pixels", "1000000", "--out", str(out / "bomb")],
        "refuse", inputs=[stroke_bomb])
    return cases


# --- the page ------------------------------------------------------------------------------------
def app_cases(work: Path, run: Path) -> list[Outcome]:
    """Starts the page and probes its sockets: a body shorter than its Content-Length, a client
    that hangs up mid-request, an idle connection. Each must end within the request timeout and
    leave no traceback on the server's console."""
    command = [sys.executable, "-m", "anime_colorize.app", "--model", str(run / "generator.keras"), "--port", "0",
               "--request-timeout", "3"]
    server = subprocess.Popen(command, cwd=ROOT, env=command_env(work), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    outcomes = []
    try:
        line = server.stdout.readline()
        if " at http://" not in line:
            server.kill()
            return [Outcome(Case("page: start", [], "ok"), server.poll(), line.strip() or "no banner", False, True,
                            "the page did not start", 0.0)]
        host, port = line.split(" at http://", 1)[1].split("/", 1)[0].rsplit(":", 1)

        def timed(name: str, send: Callable[[socket.socket], None]) -> None:
            start = time.monotonic()
            with socket.create_connection((host, int(port)), timeout=30) as conn:
                send(conn)
                try:
                    answer = conn.recv(200).decode("latin-1")
                except (TimeoutError, ConnectionResetError) as e:
                    answer = f"<{type(e).__name__}>"
            seconds = time.monotonic() - start
            verdict = "ok" if seconds < 15 else f"held the connection {seconds:.0f} s"
            outcomes.append(Outcome(Case(name, [], "ok"), None, first_line(answer) or "<closed>", False, True,
                                    verdict, seconds))

        timed("page: body shorter than Content-Length",
              lambda c: c.sendall(b"POST /api/colorize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                  b"Content-Length: 100000\r\n\r\n{\"image\": \""))
        timed("page: idle connection", lambda c: None)

        def hang_up(conn: socket.socket) -> None:
            conn.sendall(b"GET /api/info HTTP/1.1\r\nHost: x\r\n\r\n")
            conn.shutdown(socket.SHUT_RDWR)

        try:
            timed("page: client hangs up mid-request", hang_up)
        except OSError:
            pass
        time.sleep(1)
    finally:
        server.terminate()
        try:
            _, err = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            _, err = server.communicate()
    traceback = "Traceback (most recent call last)" in err
    outcomes.append(Outcome(Case("page: server console after the socket cases", [], "ok"), server.returncode,
                            first_line(err), traceback, True, "traceback" if traceback else "ok", 0.0))
    return outcomes


# --- main ------------------------------------------------------------------------------------------
def print_table(outcomes: list[Outcome]) -> None:
    print(f"| case | exit | first line | traceback | inputs intact | verdict |")
    print("|---|---|---|---|---|---|")
    for o in outcomes:
        message = o.message.replace("|", "/")[:110]
        print(f"| {o.case.name} | {o.code if o.code is not None else '-'} | {message} | "
              f"{'yes' if o.traceback else 'no'} | {'yes' if o.intact else 'NO'} | {o.verdict} |")
    failed = [o for o in outcomes if o.verdict != "ok"]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} cases ok" + (
        "; failed: " + ", ".join(o.case.name for o in failed) if failed else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", help="folder for the model and files (reused when it holds a model); "
                                          "default: a temporary folder, removed afterwards")
    parser.add_argument("--only", help="comma-separated words: run the cases whose name contains one")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once (each starts TensorFlow)")
    parser.add_argument("--no-page", action="store_true", help="skip the page's socket cases")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="reliability_probe_")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    (work / "home").mkdir(exist_ok=True)
    try:
        run = train_model(work)
        cases = build_cases(work, run)
        if args.only:
            words = [w.strip() for w in args.only.split(",") if w.strip()]
            cases = [c for c in cases if any(w in c.name for w in words)]
        # the second run into the same --out must follow the first
        ordered = [c for c in cases if "second run" not in c.name]
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            outcomes = list(pool.map(lambda c: run_case(c, work), ordered))
        outcomes += [run_case(c, work) for c in cases if "second run" in c.name]
        if not args.no_page and (not args.only or "page" in args.only):
            outcomes += app_cases(work, run)
        print_table(outcomes)
        return 0 if all(o.verdict == "ok" for o in outcomes) else 1
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
