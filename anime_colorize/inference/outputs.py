"""Where colourings are written, and the rules that keep inputs and earlier outputs safe.

Names. Folder outputs are ``<stem>.png`` for one z, or ``<stem>_<k>.png`` for k < K (always
numbered where a command says so: ``sample``). A second input with a stem already taken
(``a.png`` and ``sub/a.jpg``, compared case-insensitively) becomes ``<stem> (2)``. One input
with one z may name its file (``--out page_color.png``). An output mode's extra files add a
tail to the picture's name: ``<stem>_<k>_flat.png``, ``<stem>_<k>.psd``.

Safety, all checked by :func:`plan_outputs` BEFORE any work starts:
* an ``--out`` that is an input file, or a folder holding one, is refused;
* files this run would write that already exist are kept, and the run is refused, unless
  ``overwrite`` (the commands' ``--overwrite``; the same rule as ``train``);
* a file where a folder must be, or a folder where a file must go, is named as such.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PICTURE = ""  # the key of an output mode's main picture; other keys are tails such as "_flat.png"


class OutputError(ValueError):
    """An ``--out`` that cannot be used as asked; the message says why and what to do."""


class OutputNames:
    """Output stems: an input's own stem, or ``<stem> (2)``, ``<stem> (3)``, ... where an
    earlier input already took it (compared case-insensitively, for case-insensitive file
    systems), so no output overwrites another."""

    def __init__(self):
        self.taken = set()

    def stem_for(self, path) -> str:
        base = Path(path).stem
        stem, n = base, 1
        while stem.casefold() in self.taken:
            n += 1
            stem = f"{base} ({n})"
        self.taken.add(stem.casefold())
        return stem


@dataclass
class OutputPlan:
    """The files of a run. ``count`` colourings (z) per input; ``single_file``: ``out`` is the
    one picture of one input; ``numbered``: ``_<k>`` even for one z; ``tails``: the extra files
    the output mode may write beside each picture (e.g. ``"_flat.png"``)."""

    out: Path
    count: int
    single_file: bool = False
    numbered: bool = False
    tails: tuple = ()
    stems: dict = field(default_factory=dict)  # input path (str) -> output stem

    def pictures(self, path) -> list:
        """The picture of each z for input ``path``: K paths."""
        if self.single_file:
            return [self.out]
        stem = self.stems[str(path)]
        if self.count == 1 and not self.numbered:
            return [self.out / f"{stem}.png"]
        return [self.out / f"{stem}_{k}.png" for k in range(self.count)]

    @staticmethod
    def layer(picture: Path, tail: str) -> Path:
        """The file of an extra output (``tail``, e.g. ``"_flat.png"``) of ``picture``;
        ``PICTURE`` gives the picture itself."""
        return picture if tail == PICTURE else picture.with_name(picture.stem + tail)

    def files(self, path) -> list:
        """Every file the run may write for input ``path``."""
        return [self.layer(p, tail) for p in self.pictures(path) for tail in (PICTURE,) + tuple(self.tails)]


def _key(path) -> str:
    return os.path.normcase(str(Path(path).resolve()))


def check_not_an_input(out: Path, inputs: list) -> None:
    """Raises OutputError if ``out`` is one of ``inputs`` or a folder holding one of them."""
    out_key = _key(out)
    for path in inputs:
        if _key(path) == out_key:
            raise OutputError(f"--out {out} is the input {path}: the colouring would replace the drawing; "
                              "write it to another file")
        if any(_key(parent) == out_key for parent in Path(path).resolve().parents):
            raise OutputError(f"--out {out} holds the input {path}: outputs there could replace inputs, and a "
                              "later run would colour them again; choose a folder that holds no input")


def check_folders(out: Path, single_file: bool) -> None:
    """Raises OutputError where a file stands in for a folder of ``out`` (or for ``out`` itself
    in folder mode), or a folder stands where the single output file must go."""
    if single_file and out.is_dir():
        raise OutputError(f"--out {out} is a folder; give a file name (or use a folder for several outputs)")
    for folder in ([] if single_file else [out]) + list(out.parents):
        if folder.exists():
            if not folder.is_dir():
                what = "--out" if folder == out else f"--out {out}:"
                raise OutputError(f"{what} {folder} is a file, not a folder")
            return


def plan_outputs(inputs: list, out, count: int, *, single_file: bool = False, numbered: bool = False,
                 tails: tuple = (), overwrite: bool = False) -> OutputPlan:
    """The files of a run over ``inputs`` (paths, in order), checked before any work: raises
    OutputError if ``out`` is or holds an input, if a file or folder is in the way, or if a
    file the run would write exists already and ``overwrite`` is False."""
    out = Path(out)
    if single_file and (len(inputs) != 1 or count != 1):
        raise OutputError(f"--out {out} names one file, but the run writes {len(inputs) * count} pictures; "
                          "give a folder")
    check_not_an_input(out, inputs)
    check_folders(out, single_file)
    names = OutputNames()
    plan = OutputPlan(out, count, single_file, numbered, tuple(tails),
                      {str(path): names.stem_for(path) for path in inputs})
    existing = []
    for path in inputs:
        for target in plan.files(path):
            if target.is_dir():
                raise OutputError(f"{target} is a folder, in the way of an output file of this run; move it")
            if target.exists():
                existing.append(target)
    if existing and not overwrite:
        shown = ", ".join(str(p) for p in existing[:3]) + (", ..." if len(existing) > 3 else "")
        raise OutputError(f"--out {out} already holds {len(existing)} of the files this run would write "
                          f"({shown}); add --overwrite to replace them, or choose another --out")
    return plan
