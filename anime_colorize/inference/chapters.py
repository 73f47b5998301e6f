"""Manga chapters in and out: a folder of pages, a CBZ/ZIP archive or a PDF, one page at a time.

Reading. :func:`open_chapter` lists the pages of an input, in natural order (``page 2``
before ``page 10``, by path component, letters case-insensitively), as :class:`PageSource`
items: a name (the page's relative path inside the chapter, kept for the outputs) and a way
to have the page as a file for a moment. Nothing is decoded or held in memory while listing;
each page is extracted (or rendered) when the runner reaches it, into a private temporary
folder, and removed once it is coloured, so a chapter of any length costs one page at a time.

* Folders: :func:`anime_colorize.data.io.find_images`, put in natural order.
* CBZ/ZIP (:data:`ARCHIVE_SUFFIXES`): members are never extracted under their own names: each
  goes to ``<private folder>/<n>/<its base name>``. Left out, each named on a log line:
  members that are not images by name (``ComicInfo.xml``: "left out", which is not a
  failure, as non-images in a folder are not), and, as skipped pages, members with an
  absolute path or ``..`` (never extracted), encrypted members, and members larger than a
  page of ``--max-pixels`` can be. macOS resource forks (``__MACOSX/``) and hidden files are
  ignored, as in folders. Archive bombs: the pages' declared uncompressed sizes must add up
  to at most ``max_bytes`` (``--max-archive-mb``), checked before anything is extracted;
  Python's zipfile never inflates a member past its declared size (and checks its CRC), and
  each page's pixel count is read from its header before it is decoded (``--max-pixels``).
* PDF: rendered with pypdfium2 (the ``[pdf]`` extra) at ``dpi``; pages are named
  ``page_001.png``... A page's pixel count at that dpi is checked against ``max_pixels``
  before it is rendered. An encrypted (password-protected) PDF is refused with a message.

Writing. :class:`ArchiveWriter` builds an output ``.cbz``/``.zip`` under a hidden temporary
name beside it, one member at a time (pages in the order they are written), and renames it
into place only when the run succeeds, so a failed run leaves no half archive.

Errors that make a whole chapter unusable (a corrupt zip, an encrypted PDF, an archive over
the size limit) raise :class:`ChapterError` with a message naming the file.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Callable, ContextManager, Iterator

from anime_colorize.array_types import PathLike
from anime_colorize.data.io import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, TIFF_EXTENSIONS, ImageReadError, find_images

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".cbz", ".zip")
PDF_SUFFIXES = (".pdf",)
# 150 dpi makes a tankobon page (128 x 182 mm) about 760 x 1080 px and a B5 magazine page about
# 1060 x 1500 px: the size of common digital scans. The network works at its working size (a few
# hundred px) whatever the dpi, so more dpi only sharpens the lines carried over, at dpi^2 cost.
DEFAULT_DPI = 150
DEFAULT_MAX_ARCHIVE_MB = 2048  # the pages of a 200-page chapter of 2000 x 3000 PNG scans: ~1.5 GB
MAX_MEMBERS = 100_000          # a bigger central directory is a bomb of its own
BYTES_PER_PIXEL_MAX = 8        # the largest page file per pixel: uncompressed 16-bit RGBA
_COMPRESSED_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")  # stored in an output archive, not deflated again
_DIGITS = re.compile(r"(\d+)")


class ChapterError(ValueError):
    """An input chapter that cannot be used at all; the message names the file and says why."""


def natural_key(name: str) -> tuple:
    """Sort key of a relative path: component by component, runs of digits compared as numbers
    (``"page 2"`` before ``"page 10"``, ``"ch2/p1"`` before ``"ch10/p1"``), other text
    case-insensitively; ties (``"01"`` and ``"1"``) broken by the exact name."""
    def component(part: str) -> tuple:
        pieces = _DIGITS.split(part)  # text, digits, text, ...: the types alternate at fixed positions
        return tuple((len(p.lstrip("0")), p.lstrip("0")) if i % 2 else p.casefold() for i, p in enumerate(pieces))

    return tuple(component(part) for part in name.replace("\\", "/").split("/")), name


def is_chapter_file(path: PathLike) -> bool:
    """Whether ``path`` names an archive or a PDF (by its suffix)."""
    return Path(path).suffix.lower() in ARCHIVE_SUFFIXES + PDF_SUFFIXES


@dataclass(frozen=True)
class PageSource:
    """One page of an input.

    ``key``: unique in a run (the output plan's key); ``name``: the page's relative POSIX path
    inside its chapter (``"vol 1/p2.jpg"``; for a single file, its file name); ``label``: how
    messages name it (the file's path, or ``"<chapter>:<member>"``); ``open()``: a context
    manager giving the page as a readable file (a Path) for the ``with`` block.
    """

    key: str
    name: str
    label: str
    open: Callable[[], ContextManager[Path]]


def file_source(path: PathLike, name: str | None = None) -> PageSource:
    """A page that is a file already: ``path`` itself, named ``name`` (default: its file name)."""
    key, path = str(path), Path(path)  # the key as given: the plan knows the input by it
    return PageSource(key, name or path.name, key, lambda: contextlib.nullcontext(path))


@dataclass
class Chapter:
    """The pages of one input, in order, and what was left out while listing them.

    ``kind``: "image", "folder", "archive" or "pdf". ``files``: the files the run reads (which
    no output may replace). ``skipped``: (label, reason) of members that may be pages but
    cannot be read (a failure: the commands exit 1); ``left_out``: (label, reason) of members
    that are not pages. Use as a context manager, or call :meth:`close`: it closes the archive
    or document and removes the private folder of extracted pages.
    """

    path: Path
    kind: str
    pages: list
    files: list
    skipped: list = field(default_factory=list)
    left_out: list = field(default_factory=list)
    _closers: list = field(default_factory=list)

    @property
    def keeps_names(self) -> bool:
        """Whether outputs keep the pages' relative names (archives and PDFs), rather than the
        flat ``<stem>.png`` of folders and files."""
        return self.kind in ("archive", "pdf")

    def close(self) -> None:
        while self._closers:
            with contextlib.suppress(Exception):
                self._closers.pop()()

    def __enter__(self) -> "Chapter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_chapter(path: PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_bytes: int = DEFAULT_MAX_ARCHIVE_MB * 2**20,
                 dpi: float = DEFAULT_DPI) -> Chapter:
    """The pages of an image file, a folder of images (searched recursively), a ``.cbz`` /
    ``.zip`` archive or a ``.pdf``, in natural order (see the module docstring).

    Raises FileNotFoundError for a missing path, ValueError for a file that is none of these
    or a folder without images, and :class:`ChapterError` for a chapter that cannot be used
    (corrupt, encrypted, over ``max_bytes``, pypdfium2 missing for a PDF). Left-out and
    skipped members are logged as warnings naming them."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "No such file or folder", str(path))
    suffix = path.suffix.lower()
    if path.is_dir():
        chapter = _open_folder(path)
    elif suffix in ARCHIVE_SUFFIXES:
        chapter = _open_zip(path, max_pixels, max_bytes)
    elif suffix in PDF_SUFFIXES:
        chapter = _open_pdf(path, max_pixels, dpi)
    else:
        try:
            files = find_images(path)
        except ValueError as e:
            raise ValueError(f"{e}, or a chapter: {', '.join(ARCHIVE_SUFFIXES + PDF_SUFFIXES)}") from None
        chapter = Chapter(path, "image", [file_source(files[0])], files)
    for label, reason in chapter.left_out:
        log.warning("left out %s: %s", label, reason)
    for label, reason in chapter.skipped:
        log.warning("skipped %s: %s", label, reason)
    return chapter


def _open_folder(path: Path) -> Chapter:
    try:
        files = find_images(path)
    except ValueError:
        chapters = sorted(p.name for p in path.iterdir() if p.is_file() and is_chapter_file(p))
        if chapters:
            shown = ", ".join(chapters[:3]) + (", ..." if len(chapters) > 3 else "")
            raise ValueError(f"no image files found in folder {path}; it holds {len(chapters)} chapter files "
                             f"({shown}): colour each with --input FILE") from None
        raise
    names = {f: Path(f).relative_to(path).as_posix() for f in files}
    files.sort(key=lambda f: natural_key(names[f]))
    return Chapter(path, "folder", [file_source(f, names[f]) for f in files], files)


# ------------------------------------------------------------------ archives

def safe_member_name(name: str) -> str | None:
    """A zip member's name as a clean relative POSIX path (``./`` and repeated slashes
    dropped, backslashes read as separators), or None when it could point outside the
    folder it is extracted to: an absolute path, a drive letter, or a ``..`` component."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        return None
    clean = [p for p in parts if p not in ("", ".")]
    return "/".join(clean) or None


def _is_junk(name: str) -> bool:
    """macOS resource forks and hidden files: never pages (find_images skips them in folders too)."""
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS + TIFF_EXTENSIONS)


def _not_a_zip(path: Path, error: Exception) -> ChapterError:
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"Rar!"):
        what = "a RAR archive (.cbr), which this command does not read; repack it as a .cbz (zip)"
    elif head.startswith(b"7z\xbc\xaf\x27\x1c"):
        what = "a 7-Zip archive (.cb7), which this command does not read; repack it as a .cbz (zip)"
    else:
        what = f"not a readable zip archive: it is damaged or truncated ({error})"
    return ChapterError(f"{path}: {what}")


def _open_zip(path: Path, max_pixels: int, max_bytes: int) -> Chapter:
    try:
        archive = zipfile.ZipFile(path)
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as e:
        raise _not_a_zip(path, e) from None
    chapter = Chapter(path, "archive", [], [path], _closers=[archive.close])
    try:
        if len(infos) > MAX_MEMBERS:
            raise ChapterError(f"{path}: {len(infos):,} members, more than the {MAX_MEMBERS:,} a chapter may have")
        max_page_bytes = BYTES_PER_PIXEL_MAX * max_pixels + 2**20
        members, seen, total = [], set(), 0
        for info in infos:
            label = f"{path}:{info.filename}"
            name = safe_member_name(info.filename)
            if info.is_dir() or (name is not None and _is_junk(name)):
                continue
            if name is None:
                chapter.skipped.append((label, "unsafe member name (an absolute path or '..'): not extracted"))
            elif not _is_image_name(name):
                chapter.left_out.append((label, "not an image"))
            elif info.flag_bits & 0x1:
                chapter.skipped.append((label, "encrypted (password-protected); decrypt the archive first"))
            else:
                total += info.file_size  # what extracting every page would write: the bomb's measure
                if info.file_size > max_page_bytes:
                    chapter.skipped.append((label, f"{info.file_size / 2**20:,.0f} MB unpacked, more than a page "
                                                   f"of --max-pixels {max_pixels} can be (an archive bomb?)"))
                elif name.casefold() in seen:
                    chapter.skipped.append((label, "a second member of the same name"))
                else:
                    seen.add(name.casefold())
                    members.append((name, info))
        if total > max_bytes:
            raise ChapterError(f"{path}: its pages unpack to {total / 2**20:,.0f} MB, more than the limit of "
                               f"{max_bytes / 2**20:,.0f} MB (a guard against archive bombs); if you trust the file, "
                               f"raise it with --max-archive-mb")
        folder = _private_folder(chapter)
        members.sort(key=lambda member: natural_key(member[0]))
        for n, (name, info) in enumerate(members):
            label = f"{path}:{info.filename}"
            opener = _member_opener(archive, info, folder / str(n) / PurePosixPath(name).name, label)
            chapter.pages.append(PageSource(f"{path}::{info.filename}", name, label, opener))
    except BaseException:
        chapter.close()
        raise
    return chapter


def _private_folder(chapter: Chapter) -> Path:
    """A folder only this user can read (mkdtemp: mode 0700), removed when the chapter closes."""
    folder = Path(tempfile.mkdtemp(prefix="anime_colorize_pages_"))
    chapter._closers.append(lambda: shutil.rmtree(folder, ignore_errors=True))
    return folder


def _member_opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, label: str):
    @contextlib.contextmanager
    def extracted() -> Iterator[Path]:
        target.parent.mkdir(exist_ok=True)
        try:
            with archive.open(info) as source, open(target, "xb") as dest:
                shutil.copyfileobj(source, dest, 2**20)  # zipfile stops at the declared size
        except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, ValueError) as e:
            # BadZipFile: a bad CRC or local header; zlib.error is not an OSError; RuntimeError: encrypted
            with contextlib.suppress(OSError):
                target.unlink()
            raise ImageReadError(label, f"cannot be extracted: the archive is damaged ({e})") from None
        except Exception as e:  # zlib.error and other decompressor failures
            with contextlib.suppress(OSError):
                target.unlink()
            raise ImageReadError(label, f"cannot be extracted ({type(e).__name__}: {e})") from None
        try:
            yield target
        finally:
            with contextlib.suppress(OSError):
                target.unlink()

    return extracted


# ------------------------------------------------------------------ PDF

def _open_pdf(path: Path, max_pixels: int, dpi: float) -> Chapter:
    try:
        import pypdfium2 as pdfium
        import pypdfium2.raw as pdfium_raw
    except ImportError:
        raise ChapterError(f"{path}: reading PDFs needs pypdfium2: pip install 'anime_colorize[pdf]'") from None
    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        if e.err_code in (pdfium_raw.FPDF_ERR_PASSWORD, pdfium_raw.FPDF_ERR_SECURITY):
            raise ChapterError(f"{path}: the PDF is encrypted (password-protected); save an unprotected copy "
                               "first (e.g. qpdf --decrypt --password=PASSWORD in.pdf out.pdf)") from None
        raise ChapterError(f"{path}: not a readable PDF: it is damaged or not a PDF ({e})") from None
    chapter = Chapter(path, "pdf", [], [path], _closers=[document.close])
    try:
        count = len(document)
        if count == 0:
            raise ChapterError(f"{path}: the PDF has no pages")
        folder = _private_folder(chapter)
        digits = max(3, len(str(count)))
        for index in range(count):
            name = f"page_{index + 1:0{digits}d}.png"
            label = f"{path}:page {index + 1}"
            opener = _pdf_page_opener(document, index, dpi, max_pixels, folder / name, label)
            chapter.pages.append(PageSource(f"{path}::{name}", name, label, opener))
    except BaseException:
        chapter.close()
        raise
    return chapter


def _pdf_page_opener(document, index: int, dpi: float, max_pixels: int, target: Path, label: str):
    @contextlib.contextmanager
    def rendered() -> Iterator[Path]:
        scale = dpi / 72.0  # PDF sizes are in points, 72 to the inch
        try:
            page = document[index]
        except Exception as e:  # a broken page tree
            raise ImageReadError(label, f"cannot be read ({e})") from None
        try:
            width, height = (round(side * scale) for side in page.get_size())
            if width * height > max_pixels:
                raise ImageReadError(label, f"{width}x{height} = {width * height} pixels at --dpi {dpi:g}, more than "
                                            f"--max-pixels {max_pixels}; lower --dpi or raise --max-pixels")
            try:
                picture = page.render(scale=scale).to_pil()
            except Exception as e:  # PdfiumError, MemoryError
                raise ImageReadError(label, f"cannot be rendered ({type(e).__name__}: {e})") from None
        finally:
            page.close()
        try:
            picture.save(target, "PNG", compress_level=1)  # read back at once: speed over size
        finally:
            picture.close()
        try:
            yield target
        finally:
            with contextlib.suppress(OSError):
                target.unlink()

    return rendered


# ------------------------------------------------------------------ output archives

class ArchiveWriter:
    """An output ``.cbz``/``.zip`` built one member at a time (a sink for the runner).

    Outputs are named as the folder ``root`` would name them (``root / "vol 1/p2.jpg"``) and
    become members of that relative name. The archive is written to a hidden temporary file
    beside ``root`` and renamed into place by :meth:`close` with ``keep=True``; anything else
    (an error, ``keep=False``) removes it, so no half archive is ever left.
    """

    def __init__(self, root: PathLike) -> None:
        self.root = Path(root)
        self.written = 0
        self._tmp = self.root.with_name(f".{self.root.name}.{uuid.uuid4().hex[:12]}.tmp")
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self._tmp, "xb")
        self._zip = zipfile.ZipFile(self._file, "w")
        self._scratch: Path | None = None

    def member(self, target: Path) -> str:
        return Path(target).relative_to(self.root).as_posix()

    def _info(self, target: Path) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(self.member(target), date_time=time.localtime()[:6])
        stored = Path(target).suffix.lower() in _COMPRESSED_SUFFIXES
        info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    def write(self, target: Path, value: np.ndarray | bytes | Callable[[Path], None]) -> None:
        """Adds the member for output file ``target``: an image array (encoded by its suffix, as
        :func:`~anime_colorize.data.io.write_image` does), the file's bytes, or a function that
        writes the file given a path."""
        if callable(value):
            scratch = self._scratch_file(target)
            try:
                value(scratch)
                self.copy(target, scratch)
            finally:
                with contextlib.suppress(OSError):
                    scratch.unlink()
            return
        if not isinstance(value, (bytes, bytearray)):
            from anime_colorize.data.io import encode_image

            try:
                value = encode_image(value, Path(target).suffix)
            except ValueError as e:
                raise ValueError(f"{target}: {e}") from None
        self._zip.writestr(self._info(target), bytes(value))
        self.written += 1

    def copy(self, target: Path, source: Path) -> None:
        """Adds the member for ``target`` with the bytes of the file ``source``, as they are."""
        with open(source, "rb") as src, self._zip.open(self._info(target), "w") as dest:
            shutil.copyfileobj(src, dest, 2**20)
        self.written += 1

    def _scratch_file(self, target: Path) -> Path:
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="anime_colorize_out_"))
        return self._scratch / Path(target).name

    def close(self, keep: bool) -> None:
        """Finishes the archive and renames it into place (``keep``), or removes it."""
        try:
            if keep:
                self._zip.close()
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
                os.replace(self._tmp, self.root)
        finally:
            with contextlib.suppress(Exception):
                self._zip.close()
            with contextlib.suppress(Exception):
                self._file.close()
            with contextlib.suppress(OSError):
                self._tmp.unlink()
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
