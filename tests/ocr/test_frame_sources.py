import cv2
import numpy as np
import pytest

from nodes.camera.sources import (DeviceSource, ImageFolderSource, PatternSource, SourceError,
                                  VideoFileSource, open_source)

from video_clips import numbered_frame, write_clip

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "clip.avi", [40 * i for i in range(6)])


def _read_all(source, limit=100):
    frames = []
    while len(frames) < limit:
        ok, image = source.read()
        if not ok:
            return frames
        frames.append(image)
    return frames


def test_video_file_reads_everynumbered_frame(clip):
    with VideoFileSource(clip) as source:
        assert source.frame_count == 6
        frames = _read_all(source)
    assert len(frames) == 6
    assert all(f.shape == (96, 128, 3) for f in frames)
    greens = [int(np.median(f[:, :, 1])) for f in frames]
    assert greens == sorted(greens) and abs(greens[-1] - 200) <= 8  # order kept, MJPG is lossy


def test_video_file_loops(clip):
    with VideoFileSource(clip, loop=True) as source:
        frames = _read_all(source, limit=14)
    assert len(frames) == 14
    assert np.array_equal(frames[0], frames[6]) and np.array_equal(frames[1], frames[7])


def test_image_folder_in_name_order_and_loop(tmp_path):
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"img_{i}.png"), numbered_frame(50 * i))
    (tmp_path / "notes.txt").write_text("not an image")
    with ImageFolderSource(tmp_path) as source:
        assert source.frame_count == 3
        frames = _read_all(source)
    assert [int(f[0, 0, 1]) for f in frames] == [0, 50, 100]
    looped = _read_all(ImageFolderSource(tmp_path / "img_*.png", loop=True), limit=5)
    assert [int(f[0, 0, 1]) for f in looped] == [0, 50, 100, 0, 50]


def test_open_source_dispatch(tmp_path, clip):
    cv2.imwrite(str(tmp_path / "one.png"), numbered_frame(10))
    assert isinstance(open_source("pattern"), PatternSource)
    assert isinstance(open_source(str(clip)), VideoFileSource)
    assert isinstance(open_source(str(tmp_path)), ImageFolderSource)
    assert isinstance(open_source(str(tmp_path / "one.png")), ImageFolderSource)


def test_pattern_source_counts_frames_and_keeps_truth():
    source = PatternSource(seed=1, clock_ns=lambda: 1_700_000_000_000_000_000)
    ok, image = source.read()
    assert ok and image.shape == (480, 640, 3) and source.last_truth
    source.read()
    assert source.frame_index == 2


@pytest.mark.parametrize("make, message", [
    (lambda p: VideoFileSource(p / "missing.mp4"), "video file not found: {p}/missing.mp4"),
    (lambda p: ImageFolderSource(p / "nope"), "image folder not found: {p}/nope"),
    (lambda p: ImageFolderSource(p / "gone.png"), "image file not found: {p}/gone.png"),
    (lambda p: ImageFolderSource(p), "no images"),
    (lambda p: ImageFolderSource(p / "*.jpg"), "no files match image pattern: {p}/*.jpg"),
    (lambda p: open_source(str(p / "frames")), "video file or image folder not found: {p}/frames"),
])
def test_missing_inputs_name_the_thing(tmp_path, make, message):
    with pytest.raises(SourceError, match="^" + message.format(p=tmp_path).replace("*", r"\*")) \
            as info:
        make(tmp_path)
    assert info.value.code == "NOT_FOUND"
    assert "\n" not in str(info.value)


def test_garbage_video_is_rejected_on_open(tmp_path):
    path = tmp_path / "broken.avi"
    path.write_bytes(b"this is not a video" * 500)
    with pytest.raises(SourceError, match=f"^cannot decode video file: {path}$"):
        VideoFileSource(path)


def test_corrupt_image_is_named_when_read(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    source = ImageFolderSource(tmp_path)
    with pytest.raises(SourceError, match=f"cannot decode image file: {tmp_path}/bad.png"):
        source.read()


def test_missing_device_is_named():
    with pytest.raises(SourceError, match="^camera device 97 cannot be opened$"):
        DeviceSource(97)
