"""The README's screenshots of the colouring page (assets/app.png, assets/app_fill.png), taken in
headless Chromium driven by Playwright (the ``test`` extra; the browser is Debian's
``chromium``, or ANIME_COLORIZE_CHROMIUM):

    python experiments/app_screenshot.py --model runs/x/generator.keras --input drawing.png \\
        --out assets/app.png

The page is served by the app's own server with the given model; the drawing is uploaded,
strokes (or fill-brush clicks) are placed at fixed fractions of the picture's size, the page
colours it and the picture is taken. ``--strokes`` (JSON ``[[hex, [[fx, fy], ...]], ...]``)
overrides the default three strokes; ``--fills`` (JSON ``[[hex, [fx, fy]], ...]``) clicks with
the fill brush instead; ``--hover`` (JSON ``[fx, fy]``) leaves the fill brush over that place,
its region outlined, when the picture is taken.

(This was ``test_readme_screenshot`` in tests/test_app_browser.py: a screenshot is a picture
for the README, not a check, so it is a script; the page itself is tested there.)
"""
from __future__ import annotations

import anime_colorize.cli_common as cli_common  # first: quiets TensorFlow's start-up logs

import argparse
import json
import os
import shutil
import sys
import threading
from pathlib import Path

DEFAULT_STROKES = [["#e0463c", [[0.3, 0.3], [0.45, 0.35], [0.5, 0.45]]],
                   ["#3c7de0", [[0.6, 0.6], [0.7, 0.7], [0.75, 0.8]]],
                   ["#f2c53d", [[0.2, 0.75], [0.3, 0.85]]]]


def chromium() -> str:
    path = os.environ.get("ANIME_COLORIZE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise SystemExit("error: no chromium on PATH (apt-get install chromium, or set ANIME_COLORIZE_CHROMIUM)")
    return path


def take(model: str, picture: str, out: str, strokes, fills, hover) -> None:
    from playwright.sync_api import sync_playwright

    from anime_colorize import app as app_lib
    from anime_colorize.export import load_generator

    server = app_lib.AppServer(("127.0.0.1", 0), app_lib.ColorizeService(load_generator(model)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    coloured = ("() => { const s = document.getElementById('status');"
                " return s.className === 'ok' && s.textContent.startsWith('Coloured'); }")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), headless=True,
                                        args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1440, "height": 820})
            page.goto(server.url)
            page.wait_for_function("() => document.getElementById('model-info').textContent.startsWith('model')")
            page.set_input_files("#file-input", picture)
            page.wait_for_function(coloured, timeout=60_000)
            box = page.locator("#hint-canvas").bounding_box()
            at = lambda fx, fy: (box["x"] + fx * box["width"], box["y"] + fy * box["height"])  # noqa: E731
            page.eval_on_selector("#auto-input", "el => { el.checked = false; }")
            for colour, path in strokes:
                page.fill("#color-input", colour)
                page.mouse.move(*at(*path[0]))
                page.mouse.down()
                for fx, fy in path[1:]:
                    page.mouse.move(*at(fx, fy), steps=8)
                page.mouse.up()
            if fills:
                page.click("[data-tool=fill]")
            for colour, (fx, fy) in fills:
                page.fill("#color-input", colour)
                page.mouse.click(*at(fx, fy))
            page.eval_on_selector("#auto-input", "el => { el.checked = true; }")
            page.click("#colorize-button")
            page.wait_for_function(coloured, timeout=60_000)
            page.mouse.move(*(at(*hover) if hover else (10, 10)))
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=out)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()


def main(argv=None) -> int:
    cli_common.quiet_tensorflow()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help=".keras model (or SavedModel folder) to serve")
    parser.add_argument("--input", required=True, help="the drawing to upload")
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("--strokes", type=json.loads, default=None, help="JSON [[hex, [[fx, fy], ...]], ...]")
    parser.add_argument("--fills", type=json.loads, default=None, help="JSON [[hex, [fx, fy]], ...] (fill brush)")
    parser.add_argument("--hover", type=json.loads, default=None, help="JSON [fx, fy]: where the pointer rests")
    args = parser.parse_args(argv)
    fills = args.fills or []
    strokes = args.strokes if args.strokes is not None else ([] if fills else DEFAULT_STROKES)
    take(args.model, args.input, args.out, strokes, fills, args.hover)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
