"""Where colourings are written, and the rules that keep inputs and earlier outputs safe.

Names. Folder outputs are ``<stem>.png`` for one z, or ``<stem>_<k>.png`` for k < K (always
numbered where a command says so: ``sample``). A second input with a stem already taken
(``a.png`` and ``sub/a.jpg``, compared case-insensitively) becomes ``<stem> (2)``. One input
with one z may name its file (``--out page_color.png``). An output mode's extra files add a
tail to the picture's name: ``<stem>_<k>_flat.png``, ``<stem>_<k>.psd``.

Pages of a chapter (:mod:`anime_colorize.inference.chapters`) may keep their names instead
(``names``): ``vol 1/p2.jpg`` is written as ``<out>/vol 1/p2.jpg`` (its folders kept; its
suffix kept when it is one we write, else ``.png``), and ``<out>`` may be an archive
(``archive``: ``--out chapter_color.cbz``), whose members are those relative names.

Safety, all checked by :func:`plan_outputs` BEFORE any work starts:
* an ``--out`` that is an input file, or a folder holding one, is refused;
* files this run would write that already exist (or the output archive) are kept, and the
  run is refused, unless ``overwrite`` (the commands' ``--overwrite``; the same rule as ``train``);
* a file where a folder must be, or a folder where a file must go, is named as such.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from anime_colorize.array_types import PathLike
from anime_colorize.data.io import IMAGE_EXTENSIONS, write_bytes_atomic, write_image

if TYPE_CHECKING:
    import numpy as np

PICTURE = ""  # the key of an output mode's main picture; other keys are tails such as "_flat.png"
DEFAULT_SUFFIX = ".png"


class OutputError(ValueError):
    """An ``--out`` that cannot be used as asked; the message says why and what to do."""


class OutputNames:
    """Output stems: an input's own stem (or kept name, without its suffix), or ``<stem> (2)``,
    ``<stem> (3)``, ... where an earlier input already took it (compared case-insensitively,
    for case-insensitive file systems), so no output overwrites another."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def unique(self, base: str) -> str:
        """``base``, or ``base (2)``, ``base (3)``, ... if taken; now taken."""
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
    the output mode may write beside each picture (e.g. ``"_flat.png"``); ``archive``: ``out``
    is a .cbz/.zip whose members are the files' paths relative to it."""

    out: Path
    count: int
    single_file: bool = False
    numbered: bool = False
    tails: tuple = ()
    stems: dict = field(default_factory=dict)  # input key (its path) -> output stem, maybe with folders
    suffixes: dict = field(default_factory=dict)  # input key -> the picture's suffix, where not ".png"
    archive: bool = False
    renamed: dict = field(default_factory=dict)  # input key -> the stem it would have had, had it been free

    def pictures(self, path: PathLike) -> list:
        """The picture of each z for input ``path`` (its key): K paths."""
        if self.single_file:
            return [self.out]
        stem = self.stems[str(path)]
        suffix = self.suffixes.get(str(path), DEFAULT_SUFFIX)
        if self.count == 1 and not self.numbered:
            return [self.out / f"{stem}{suffix}"]
        return [self.out / f"{stem}_{k}{suffix}" for k in range(self.count)]

    @staticmethod
    def layer(picture: Path, tail: str) -> Path:
        """The file of an extra output (``tail``, e.g. ``"_flat.png"``) of ``picture``;
        ``PICTURE`` gives the picture itself."""
        return picture if tail == PICTURE else picture.with_name(picture.stem + tail)

    def files(self, path: PathLike) -> list:
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


def plan_outputs(inputs: list, out: PathLike, count: int, *, single_file: bool = False, numbered: bool = False,
                 tails: tuple = (), overwrite: bool = False, names: dict | None = None, archive: bool = False,
                 protect: list | None = None) -> OutputPlan:
    """The files of a run over ``inputs`` (their keys, in order: paths, or a chapter's page
    keys), checked before any work: raises OutputError if ``out`` is or holds an input (one
    of ``protect``, default ``inputs``), if a file or folder is in the way, or if a file the
    run would write (or the archive ``out``) exists already and ``overwrite`` is False.
    ``names``: input key -> the page's relative POSIX name to keep (see the module docstring)."""
    out = Path(out)
    if single_file and (len(inputs) != 1 or count != 1):
        raise OutputError(f"--out {out} names one file, but the run writes {len(inputs) * count} pictures; "
                          "give a folder")
    check_not_an_input(out, inputs if protect is None else protect)
    check_folders(out, single_file or archive)
    unique = OutputNames()
    plan = OutputPlan(out, count, single_file, numbered, tuple(tails), archive=archive)
    for key in inputs:
        name = PurePosixPath(Path(key).name if names is None else names[key])
        base = name.stem if names is None else str(name.with_suffix(""))
        plan.stems[str(key)] = unique.unique(base)
        if plan.stems[str(key)] != base:
            plan.renamed[str(key)] = base
        if names is not None and name.suffix.lower() in IMAGE_EXTENSIONS:  # the kinds write_image writes
            plan.suffixes[str(key)] = name.suffix
    if archive:
        if out.exists() and not overwrite:
            raise OutputError(f"--out {out} exists already; add --overwrite to replace it, or choose another --out")
        return plan
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


class FolderWriter:
    """Writes each output file atomically where the plan names it: the runner's sink for folder
    (and single-file) outputs; :class:`anime_colorize.inference.chapters.ArchiveWriter` is the
    one for archives. ``written``: files written so far."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, target: Path, value: np.ndarray | bytes | Callable[[Path], None]) -> None:
        """``value``: an image array (:func:`~anime_colorize.data.io.write_image`), the file's
        bytes, or a function that writes the file atomically given its path (a PSD, a layer)."""
        if isinstance(value, (bytes, bytearray)):
            write_bytes_atomic(target, bytes(value))
        elif callable(value):
            value(target)
        else:
            write_image(target, value)
        self.written += 1

    def copy(self, target: Path, source: Path) -> None:
        """Writes ``target`` with the bytes of the file ``source``, as they are."""
        with open(source, "rb") as f:
            write_bytes_atomic(target, f.read())  # one page file in memory
        self.written += 1

    def close(self, keep: bool) -> None:
        """Nothing to finish: every file is in place as soon as it is written."""
