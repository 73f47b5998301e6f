"""Prints one Markdown table of the "model" rows of several evaluation reports, with the two
baselines of the first report below them (all reports must share images and settings).

    python experiments/report_table.py reports/compare_*
"""
import json
import sys
from pathlib import Path

COLUMNS = [("psnr_mean_z", "PSNR mean-z", ".2f"), ("psnr_best_of_k", "best-of-K", ".2f"), ("ssim", "SSIM", ".3f"),
           ("ciede2000", "CIEDE2000", ".2f"), ("colourfulness", "colourfulness", ".2f"),
           ("ab_hist_js", "ab-hist JS", ".3f"), ("diversity", "diversity", ".2f")]


def cell(value, spec):
    return "—" if value is None else format(value, spec)


def main(folders) -> int:
    reports = [(Path(f).name, json.loads((Path(f) / "metrics.json").read_text())) for f in folders]
    if not reports:
        print("no reports given", file=sys.stderr)
        return 2
    first = reports[0][1]
    print(f"{first['num_images']} images ({first['source']}) at {first['size']} px, K = {first['num_samples']}; "
          f"truth colourfulness {first['truth_colourfulness']:.2f}\n")
    print("| | " + " | ".join(label for _, label, _ in COLUMNS) + " |")
    print("|---" + "|---:" * len(COLUMNS) + "|")
    rows = [(name, data["results"]["model"]) for name, data in reports]
    rows += [(name, r) for name, r in first["results"].items() if name.endswith("baseline")]
    for name, r in rows:
        print(f"| {name} | " + " | ".join(cell(r.get(key), spec) for key, _, spec in COLUMNS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
