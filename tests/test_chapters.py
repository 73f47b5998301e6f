"""Manga chapters: CBZ/ZIP/PDF and folders in, folders and archives out, in natural order, with
names kept, pages already in colour passed through, and every kind of bad archive refused or
skipped with a clear message and nothing half-written."""
import io
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from anime_colorize import colorize
from anime_colorize.data.io import ImageReadError, encode_image, read_image, write_image
from anime_colorize.inference import chapters, colour_check

Z_DIM = 4


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """An untrained tiny gray model: the plumbing needs no training."""
    import keras

    from anime_colorize.export import save_keras
    from anime_colorize.models import UNetGenerator

    keras.utils.set_random_seed(0)
    return save_keras(UNetGenerator(z_dim=Z_DIM, depth=2, filters=8, working_size=32),
                      tmp_path_factory.mktemp("model") / "gray.keras")


def gray_page(height=40, width=56, seed=0):
    """A black-and-white page: white paper, black frames, a gray screentone patch (float RGB)."""
    rng = np.random.default_rng(seed)
    rgb = np.ones((height, width, 3), np.float32)
    rgb[height // 2, :] = 0.0
    rgb[:, width // 3] = 0.0
    patch = rgb[4:14, width // 2:width - 4]
    patch[:] = 0.55 + 0.1 * rng.random(patch.shape[:2] + (1,))
    return rgb


def colour_page(height=40, width=56):
    """A page in colour: red, green and blue areas on white."""
    rgb = np.ones((height, width, 3), np.float32)
    rgb[:12, :] = (0.9, 0.2, 0.2)
    rgb[12:24, : width // 2] = (0.2, 0.7, 0.3)
    rgb[24:, width // 2:] = (0.2, 0.3, 0.9)
    return rgb


def page_bytes(rgb, suffix=".png") -> bytes:
    return encode_image(rgb, suffix)


def make_zip(path, members, compression=zipfile.ZIP_STORED):
    """members: (name, bytes) in the order they are stored."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name)  # as given: ZipFile.writestr(str) would clean the name
            info.compress_type = compression
            archive.writestr(info, data)
    return path


def header_only_png(width, height) -> bytes:
    """A PNG whose header says width x height and that holds no pixels: a decompression bomb's header."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IEND", b""))


def mark_encrypted(path, member):
    """Sets the 'encrypted' flag of ``member`` in its local and central headers, as a
    password-protected zip has it (Python's zipfile cannot write encrypted members)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        offset = archive.getinfo(member).header_offset
    data[offset + 6] |= 0x1
    name = member.encode()
    central = data.find(b"PK\x01\x02")  # the central directory's entries
    while central != -1:
        length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46:central + 46 + length] == name:
            data[central + 8] |= 0x1
        central = data.find(b"PK\x01\x02", central + 46)
    path.write_bytes(bytes(data))


def corrupt_member(path, member):
    """Flips a byte inside a stored member's data: its CRC no longer matches."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo(member)
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def run(main, argv, capsys):
    code = main(argv + ["--quiet"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def no_temporary_files(folder):
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# ------------------------------------------------------------------ order, names, listing

def test_natural_order_puts_2_before_10_by_path_component():
    names = ["page 10.png", "page 2.png", "Page 1.png", "ch10/p1.png", "ch2/p10.png", "ch2/p9.png", "01.png",
             "1.png", "9" * 5000 + ".png"]
    assert sorted(names, key=chapters.natural_key) == [
        "01.png", "1.png", "9" * 5000 + ".png", "ch2/p9.png", "ch2/p10.png", "ch10/p1.png", "Page 1.png",
        "page 2.png", "page 10.png"]


@pytest.mark.parametrize("name, safe", [
    ("p1.png", "p1.png"), ("vol 1/./p1.png", "vol 1/p1.png"), ("a//b.png", "a/b.png"),
    ("../p1.png", None), ("a/../../p1.png", None), ("/etc/p1.png", None), ("\\\\server\\p.png", None),
    ("C:/p1.png", None), ("a\\..\\p1.png", None), ("..", None)])
def test_member_names_that_could_leave_the_folder_are_refused(name, safe):
    assert chapters.safe_member_name(name) == safe


def test_an_archive_lists_its_pages_in_natural_order_and_names_what_it_leaves_out(tmp_path):
    png = page_bytes(gray_page())
    path = make_zip(tmp_path / "ch.cbz", [
        ("page 10.png", png), ("page 2.png", png), ("extra/page 3.jpg", page_bytes(gray_page(), ".jpg")),
        ("ComicInfo.xml", b"<ComicInfo/>"), ("__MACOSX/._page 2.png", b"junk"), ("../evil.png", png),
        ("/abs.png", png), ("locked.png", png), ("chapter/", b"")])
    mark_encrypted(path, "locked.png")
    with chapters.open_chapter(path) as chapter:
        assert [p.name for p in chapter.pages] == ["extra/page 3.jpg", "page 2.png", "page 10.png"]
        assert chapter.left_out == [(f"{path}:ComicInfo.xml", "not an image")]
        reasons = dict(chapter.skipped)
        assert set(reasons) == {f"{path}:../evil.png", f"{path}:/abs.png", f"{path}:locked.png"}
        assert "unsafe" in reasons[f"{path}:../evil.png"] and "encrypted" in reasons[f"{path}:locked.png"]
        with chapter.pages[0].open() as page_file:
            assert page_file.name == "page 3.jpg" and page_file.read_bytes()[:2] == b"\xff\xd8"
            folder = page_file.parent.parent
            assert tmp_path not in page_file.parents  # a private folder, not beside the archive
        assert not page_file.exists()
    assert not folder.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ch.cbz"]  # nothing extracted beside it


def test_a_folder_is_listed_in_natural_order(tmp_path):
    for name in ("p10.png", "p2.png", "sub/p1.png"):
        write_image(tmp_path / "in" / name, gray_page())
    with chapters.open_chapter(tmp_path / "in") as chapter:
        assert [p.name for p in chapter.pages] == ["p2.png", "p10.png", "sub/p1.png"]
        assert chapter.kind == "folder" and not chapter.keeps_names


def test_a_folder_of_chapters_says_to_colour_each(tmp_path):
    make_zip(tmp_path / "a.cbz", [("p1.png", page_bytes(gray_page()))])
    with pytest.raises(ValueError, match="holds 1 chapter files .*a.cbz.*--input FILE"):
        chapters.open_chapter(tmp_path)


# ------------------------------------------------------------------ bad archives, as the reader sees them

def test_corrupt_truncated_and_foreign_archives_are_refused_by_name(tmp_path):
    good = make_zip(tmp_path / "good.cbz", [("p1.png", page_bytes(gray_page()))]).read_bytes()
    cases = {"noise.cbz": bytes(range(256)) * 4, "truncated.zip": good[: len(good) // 2],
             "empty.cbz": b"", "rar.cbz": b"Rar!\x1a\x07\x00" + bytes(64)}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(chapters.ChapterError) as e:
            chapters.open_chapter(tmp_path / name)
        assert str(tmp_path / name) in str(e.value), name
    with pytest.raises(chapters.ChapterError, match="RAR"):
        chapters.open_chapter(tmp_path / "rar.cbz")


def test_an_archive_bomb_is_refused_before_anything_is_extracted(tmp_path):
    zeros = bytes(3 * 2**20)  # 3 MB that deflate to a few KB
    path = make_zip(tmp_path / "bomb.cbz", [("p1.bmp", zeros), ("p2.bmp", zeros)], zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 100_000
    with pytest.raises(chapters.ChapterError, match="6 MB, more than the limit of 5 MB.*--max-archive-mb"):
        chapters.open_chapter(path, max_bytes=5 * 2**20)
    with chapters.open_chapter(path, max_pixels=1000) as chapter:  # a page file bigger than 1000 pixels can be
        assert chapter.pages == [] and all("--max-pixels 1000" in reason for _, reason in chapter.skipped)


# ------------------------------------------------------------------ PDF

def make_pdf(path, pictures, resolution=72.0):
    """A PDF of one page per picture (Pillow; at 72 dpi a page is as many points as pixels)."""
    images = [Image.fromarray((p * 255).astype(np.uint8)) for p in pictures]
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=resolution)
    return path


def pdf_bytes(objects, trailer) -> bytes:
    """A PDF file of the given objects, with a correct cross-reference table."""
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(b"%010d 00000 n \n" % o
                                                                               for o in offsets)
    return out + b"trailer\n" + trailer + b"\nstartxref\n%d\n%%%%EOF\n" % xref


def encrypted_pdf(path):
    """A one-page PDF protected by a user password (standard security handler, revision 2):
    its /U entry matches no empty password, so a reader must ask for one."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>",
               b"<< /Filter /Standard /V 1 /R 2 /O <" + b"ab" * 32 + b"> /U <" + b"cd" * 32 + b"> /P -4 >>"]
    path.write_bytes(pdf_bytes(objects, b"<< /Size 5 /Root 1 0 R /Encrypt 4 0 R /ID [<" + b"01" * 16 + b"> <"
                               + b"01" * 16 + b">] >>"))
    return path


@pytest.fixture
def pdfium():
    return pytest.importorskip("pypdfium2", reason="PDF chapters need pypdfium2 (pip install -e '.[pdf]')")


def test_pdf_pages_are_rendered_at_the_dpi_and_named_in_order(tmp_path, pdfium):
    path = make_pdf(tmp_path / "ch.pdf", [gray_page(40, 56), colour_page(30, 20)])
    with chapters.open_chapter(path, dpi=144) as chapter:  # twice 72 dpi: twice the points
        assert [p.name for p in chapter.pages] == ["page_001.png", "page_002.png"]
        with chapter.pages[1].open() as page_file:
            assert Image.open(page_file).size == (40, 60)
    with chapters.open_chapter(path, dpi=144, max_pixels=2000) as chapter:
        with pytest.raises(ImageReadError, match="112x80 = 8960 pixels at --dpi 144.*--max-pixels 2000"):
            with chapter.pages[0].open():
                pass


def test_an_encrypted_pdf_is_refused_with_a_clear_message(tmp_path, pdfium):
    with pytest.raises(chapters.ChapterError, match="encrypted .password-protected."):
        chapters.open_chapter(encrypted_pdf(tmp_path / "locked.pdf"))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really")
    with pytest.raises(chapters.ChapterError, match="not a readable PDF"):
        chapters.open_chapter(tmp_path / "broken.pdf")


# ------------------------------------------------------------------ already in colour

def test_colour_pages_are_told_from_black_and_white_ones_with_noise_and_tint():
    bw = gray_page(200, 140)
    rng = np.random.default_rng(1)
    noisy = np.clip(bw + rng.normal(0, 0.03, bw.shape).astype(np.float32), 0, 1)  # chroma noise per pixel
    yellowed = bw * np.float32([1.0, 0.93, 0.8])  # old paper: one cast over the whole page
    fringed = bw.copy()
    fringed[:, 1:, 0] = bw[:, :-1, 0]  # a misregistered scan: a colour fringe along every line
    for page in (bw, noisy, yellowed, fringed):
        assert not colour_check.is_in_colour(page)
    assert colour_check.is_in_colour(colour_page(200, 140))
    small_face = bw.copy()
    small_face[20:70, 20:70] = (0.95, 0.75, 0.6)  # 9% of the page in skin colour
    assert colour_check.is_in_colour(small_face)


# ------------------------------------------------------------------ writing archives

def test_an_output_archive_appears_only_when_it_is_kept(tmp_path):
    out = tmp_path / "out.cbz"
    writer = chapters.ArchiveWriter(out)
    writer.write(out / "p1.png", gray_page())
    writer.close(keep=False)
    assert list(tmp_path.iterdir()) == []
    writer = chapters.ArchiveWriter(out)
    with pytest.raises(ValueError, match="unsupported extension"):
        writer.write(out / "p1.tga", gray_page())
    writer.write(out / "b/p2.jpg", gray_page())
    assert not out.exists() and [p.name.startswith(".out.cbz.") for p in tmp_path.iterdir()] == [True]
    writer.close(keep=True)
    assert list(tmp_path.iterdir()) == [out]
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["b/p2.jpg"]


# ------------------------------------------------------------------ the command

def test_cbz_in_cbz_out_keeps_names_order_and_formats(model, tmp_path, capsys):
    jpg = page_bytes(gray_page(seed=3), ".jpg")
    path = make_zip(tmp_path / "ch.cbz", [("page 10.png", page_bytes(gray_page(50, 30))),
                                          ("page 2.png", page_bytes(gray_page())), ("extra/page 3.jpg", jpg),
                                          ("ComicInfo.xml", b"<ComicInfo/>")])
    out = tmp_path / "out" / "ch_color.cbz"
    code, stdout, err = run(colorize.main, ["--model", str(model), "--input", str(path), "--out", str(out)], capsys)
    assert code == 0, err
    assert f"left out {path}:ComicInfo.xml: not an image" in err
    assert f"wrote 3 pages to {out}" in stdout
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["extra/page 3.jpg", "page 2.png", "page 10.png"]
        pictures = {name: Image.open(io.BytesIO(archive.read(name))) for name in archive.namelist()}
    assert {name: (p.format, p.size) for name, p in pictures.items()} == {
        "extra/page 3.jpg": ("JPEG", (56, 40)), "page 2.png": ("PNG", (56, 40)), "page 10.png": ("PNG", (30, 50))}
    assert no_temporary_files(tmp_path)


def test_zip_in_folder_out_and_folder_in_cbz_out(model, tmp_path, capsys):
    path = make_zip(tmp_path / "ch.zip", [("p10.png", page_bytes(gray_page())), ("v/p2.png", page_bytes(gray_page()))])
    code, _, err = run(colorize.main, ["--model", str(model), "--input", str(path), "--out", str(tmp_path / "o")],
                       capsys)
    assert code == 0, err
    assert sorted(p.relative_to(tmp_path / "o").as_posix() for p in (tmp_path / "o").rglob("*.png")) == [
        "p10.png", "v/p2.png"]
    code, _, err = run(colorize.main, ["--model", str(model), "--input", str(tmp_path / "o"), "--out",
                                       str(tmp_path / "again.cbz"), "--num-samples", "2"], capsys)
    assert code == 0, err
    with zipfile.ZipFile(tmp_path / "again.cbz") as archive:
        assert archive.namelist() == ["p10_0.png", "p10_1.png", "v/p2_0.png", "v/p2_1.png"]
    code, _, err = run(colorize.main, ["--model", str(model), "--input", str(tmp_path / "o"), "--out",
                                       str(tmp_path / "again.cbz")], capsys)
    assert code == 2 and "--overwrite" in err


def test_skip_colour_passes_colour_pages_through_as_they_are(model, tmp_path, capsys):
    colour = page_bytes(colour_page(), ".png")
    path = make_zip(tmp_path / "ch.cbz", [("p1.png", page_bytes(gray_page())), ("p2.png", colour),
                                          ("p3.png", page_bytes(gray_page(seed=2)))])
    out = tmp_path / "ch_color.cbz"
    code, stdout, err = run(colorize.main, ["--model", str(model), "--input", str(path), "--out", str(out),
                                            "--skip-colour"], capsys)
    assert code == 0, err
    assert "wrote 3 pages" in stdout and "1 already in colour, passed through unchanged" in stdout
    with zipfile.ZipFile(out) as archive, zipfile.ZipFile(path) as source:
        assert archive.namelist() == ["p1.png", "p2.png", "p3.png"]
        assert archive.read("p2.png") == colour
        assert archive.read("p1.png") != source.read("p1.png")  # coloured
    # a folder's outputs are <stem>.png: a JPEG in colour is written losslessly as it decodes
    folder = tmp_path / "in"
    write_image(folder / "c.jpg", colour_page())
    write_image(folder / "g.png", gray_page())
    code, stdout, err = run(colorize.main, ["--model", str(model), "--input", str(folder), "--out",
                                            str(tmp_path / "o"), "--skip-colour"], capsys)
    assert code == 0 and "1 already in colour" in stdout, err
    np.testing.assert_array_equal(read_image(tmp_path / "o" / "c.png"), read_image(folder / "c.jpg"))


def test_bad_archives_get_clear_messages_exit_codes_and_no_half_output(model, tmp_path, capsys):
    """A folder of broken archives, each coloured into a CBZ: refused ones (exit 2) leave no
    output; ones with bad members (exit 1) name them and colour the rest. (The encrypted PDF
    is tried where pypdfium2 is installed.)"""
    bad, out = tmp_path / "bad", tmp_path / "out"
    bad.mkdir()
    png = page_bytes(gray_page())
    (bad / "noise.cbz").write_bytes(bytes(range(256)) * 8)
    good = make_zip(bad / "good.cbz", [("p1.png", png)]).read_bytes()
    (bad / "truncated.cbz").write_bytes(good[:-30])
    make_zip(bad / "bomb.cbz", [("p1.bmp", bytes(3 * 2**20))], zipfile.ZIP_DEFLATED)
    encrypted_pdf(bad / "locked.pdf")
    make_zip(bad / "escape.cbz", [("../../escaped.png", png), ("/tmp/abs.png", png), ("p1.png", png)])
    make_zip(bad / "locked_member.cbz", [("p1.png", png), ("p2.png", png)])
    mark_encrypted(bad / "locked_member.cbz", "p2.png")
    make_zip(bad / "bad_crc.cbz", [("p1.png", png), ("p2.png", png)])
    corrupt_member(bad / "bad_crc.cbz", "p1.png")
    make_zip(bad / "pixel_bomb.cbz", [("p1.png", header_only_png(100_000, 100_000)), ("p2.png", png)])
    make_zip(bad / "not_images.cbz", [("p1.png", b"this is not a picture"), ("notes.txt", b"hello"), ("p2.png", png)])
    make_zip(bad / "no_pages.cbz", [("notes.txt", b"hello")])

    expected = {  # archive: (exit code, words in the error output, members of the output archive)
        "noise.cbz": (2, "not a readable zip archive", None),
        "truncated.cbz": (2, "damaged or truncated", None),
        "bomb.cbz": (2, "--max-archive-mb", None),
        "locked.pdf": (2, "encrypted (password-protected)", None),
        "escape.cbz": (1, "unsafe member name", ["p1.png"]),
        "locked_member.cbz": (1, "p2.png: encrypted", ["p1.png"]),
        "bad_crc.cbz": (1, "p1.png: cannot be extracted: the archive is damaged", ["p2.png"]),
        "pixel_bomb.cbz": (1, "--max-pixels", ["p2.png"]),
        "not_images.cbz": (1, "p1.png: not a recognised image file", ["p2.png"]),
        "no_pages.cbz": (1, "holds no page", None),
    }
    try:
        import pypdfium2  # noqa: F401
    except ImportError:
        del expected["locked.pdf"]
    errors = {}
    for name, (want_code, words, members) in expected.items():
        target = out / (name.rsplit(".", 1)[0] + "_color.cbz")
        code, _, err = errors[name] = run(colorize.main, ["--model", str(model), "--input", str(bad / name), "--out", str(target),
                                           "--max-archive-mb", "2"], capsys)
        assert code == want_code and words in err and "Traceback" not in err, (name, code, err)
        if members is None:
            assert not target.exists(), name
        else:
            with zipfile.ZipFile(target) as archive:
                assert archive.namelist() == members, name
    assert f"left out {bad / 'not_images.cbz'}:notes.txt: not an image" in errors["not_images.cbz"][2]
    assert no_temporary_files(tmp_path)
    assert not (tmp_path / "escaped.png").exists() and not list(tmp_path.parent.glob("escaped.png"))


def test_pdf_in_cbz_out(model, tmp_path, capsys, pdfium):
    path = make_pdf(tmp_path / "ch.pdf", [gray_page(40, 56), gray_page(30, 20), colour_page(30, 20)])
    out = tmp_path / "ch_color.cbz"
    code, stdout, err = run(colorize.main, ["--model", str(model), "--input", str(path), "--out", str(out),
                                            "--dpi", "144", "--skip-colour"], capsys)
    assert code == 0, err
    assert "1 already in colour" in stdout
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["page_001.png", "page_002.png", "page_003.png"]
        assert Image.open(io.BytesIO(archive.read("page_001.png"))).size == (112, 80)
