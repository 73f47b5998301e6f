import numpy as np
import pytest

from anime_colorize.data import pipeline
from anime_colorize.data.io import write_image


def first_batches(dataset, count):
    iterator = iter(dataset)
    return [next(iterator) for _ in range(count)]


@pytest.fixture
def folder(tmp_path):
    """Six colour pictures in nested folders, one gray, one unreadable, one 16-bit PNG."""
    import cv2

    root = tmp_path / "pictures"
    rng = np.random.default_rng(0)
    for k in range(4):
        picture = np.zeros((40 + 8 * k, 48, 3), np.float32)
        picture[..., k % 3] = 0.8
        picture[::4] = rng.uniform(size=(picture[::4].shape))
        write_image(root / ("sub" if k % 2 else "") / f"pic {k}.png", picture)
    write_image(root / "gray.jpg", np.full((40, 40, 3), 0.5, np.float32))
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    cv2.imwrite(str(root / "deep.png"), np.full((36, 36, 3), 40000, np.uint16))
    return root


def test_scan_reports_unreadable_files_and_drops_gray(folder):
    report = pipeline.scan_folder(folder, load_size=36, drop_gray=4.0, progress=False)
    assert [p.rsplit("/", 1)[-1] for p, _ in report.skipped] == ["broken.png"]
    assert [p.rsplit("/", 1)[-1] for p in report.gray] == ["deep.png", "gray.jpg"]
    assert len(report.paths) == 4
    assert "4 usable images, 1 unreadable skipped, 2 near-gray dropped" in report.summary(folder)
    kept = pipeline.scan_folder(folder, load_size=36, progress=False)
    assert len(kept.paths) == 6


def test_exclude_leaves_out_matching_file_names(folder):
    report = pipeline.scan_folder(folder, load_size=36, progress=False, exclude="pic *.png")
    assert sorted(p.rsplit("/", 1)[-1] for p in report.paths) == ["deep.png", "gray.jpg"]
    with pytest.raises(ValueError, match="every image .* matches --exclude"):
        pipeline.scan_folder(folder, load_size=36, progress=False, exclude="*")


def test_a_folder_with_nothing_usable_is_a_clear_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"nope")
    with pytest.raises(ValueError, match="no usable image"):
        pipeline.scan_folder(tmp_path, load_size=32, progress=False)


def test_stream_is_deterministic_and_resumable(folder):
    report = pipeline.scan_folder(folder, load_size=36, progress=False)
    source = pipeline.FileSource(report.paths, 36)
    a = first_batches(pipeline.training_dataset(source, 32, 4, seed=3), 5)
    b = first_batches(pipeline.training_dataset(source, 32, 4, seed=3), 5)
    c = first_batches(pipeline.training_dataset(source, 32, 4, seed=4), 5)
    resumed = first_batches(pipeline.training_dataset(source, 32, 4, seed=3, start_step=3), 2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["ab"].numpy(), y["ab"].numpy())
    assert not all(np.array_equal(x["ab"].numpy(), y["ab"].numpy()) for x, y in zip(a, c))
    for x, y in zip(a[3:], resumed):
        np.testing.assert_array_equal(x["l"].numpy(), y["l"].numpy())
    assert a[0]["l"].shape == (4, 32, 32, 1) and a[0]["ab"].shape == (4, 32, 32, 2)


def test_cached_and_streamed_folders_give_the_same_batches(folder):
    streamed = pipeline.scan_folder(folder, load_size=36, progress=False)
    cached = pipeline.scan_folder(folder, load_size=36, cache=True, progress=False)
    assert cached.images.shape == (6, 36, 36, 3) and cached.images.dtype == np.uint8
    x = first_batches(pipeline.training_dataset(pipeline.FileSource(streamed.paths, 36), 32, 3, seed=0), 3)
    y = first_batches(pipeline.training_dataset(pipeline.ArraySource(cached.images), 32, 3, seed=0), 3)
    for p, q in zip(x, y):
        np.testing.assert_array_equal(p["ab"].numpy(), q["ab"].numpy())


def test_every_picture_is_seen_once_per_epoch():
    pictures = np.stack([np.full((8, 8, 3), k * 20, np.uint8) for k in range(10)])
    batches = first_batches(pipeline.training_dataset(pipeline.ArraySource(pictures), 8, 5, seed=0, flip=False), 4)
    l_values = [round(float(b["l"][i, 0, 0, 0]), 4) for b in batches for i in range(5)]
    assert len(set(l_values[:10])) == 10 and len(set(l_values[10:])) == 10
    assert l_values[:10] != l_values[10:]  # a new order each epoch


def test_a_file_that_breaks_after_the_scan_is_skipped(folder):
    report = pipeline.scan_folder(folder, load_size=36, progress=False)
    source = pipeline.FileSource(report.paths, 36)
    with open(report.paths[0], "wb") as f:
        f.write(b"gone")
    batches = first_batches(pipeline.training_dataset(source, 32, 5, seed=0), 3)
    assert all(b["l"].shape[0] == 5 for b in batches)


def test_fit_square_crops_the_longer_side():
    tall = np.zeros((100, 50, 3), np.float32)
    tall[45:55] = 1.0
    square = pipeline.fit_square(tall, 20)
    assert square.shape == (20, 20, 3) and square.dtype == np.uint8
    assert square[10, 10, 0] == 255 and square[0, 0, 0] == 0
