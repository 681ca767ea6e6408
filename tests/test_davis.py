"""DAVIS32 and clips from one's own footage: crop geometry, splits, the CLI, downloads, video decoding.

Everything runs on small synthetic trees, videos and archives made here, and on
``../shared/data/davis-mini`` when it exists. Downloads go to an HTTP server on 127.0.0.1 in a
thread of this process; no test touches the internet.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import re
import socket
import threading
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_main_one_line, run_cli
from PIL import Image

from interp import InterpError, data
from interp.cli import data as data_cli
from interp.data.davis import CLIP_FRAMES, build_davis32, clips_from_frames, crop_grid
from interp.data.download import download, extract_zip, fetch_davis

DAVIS_MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis-mini"
PROG = "python -m interp.data"


# --------------------------------------------------------------------------- synthetic data


def smooth_frames(n: int, height: int, width: int, seed: int) -> np.ndarray:
    """``n`` uint8 RGB frames [n, H, W, 3] of drifting smooth patterns plus a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    fx, fy, phase = rng.uniform(0.05, 0.2, 3), rng.uniform(0.05, 0.2, 3), rng.uniform(0, 6, 3)
    out = np.empty((n, height, width, 3), np.uint8)
    for t in range(n):
        for ch in range(3):
            v = 128 + 90 * np.sin(fx[ch] * x + phase[ch] + 0.3 * t) * np.cos(fy[ch] * y - 0.2 * t)
            out[t, :, :, ch] = np.clip(v + rng.normal(0, 4, v.shape), 0, 255).astype(np.uint8)
    return out


def write_davis_tree(root: Path, videos: dict[str, int], height: int = 120, width: int = 200,
                     split: tuple[list[str], list[str]] | None = None) -> Path:
    """A DAVIS-like folder: JPEGImages/480p/<video>/00000.jpg ..., optionally ImageSets/2017."""
    for i, (name, n) in enumerate(videos.items()):
        folder = root / "JPEGImages" / "480p" / name
        folder.mkdir(parents=True)
        for t, frame in enumerate(smooth_frames(n, height, width, seed=i)):
            Image.fromarray(frame).save(folder / f"{t:05d}.jpg", quality=90)
    if split is not None:
        sets = root / "ImageSets" / "2017"
        sets.mkdir(parents=True)
        (sets / "train.txt").write_text("\n".join(split[0]) + "\n")
        (sets / "val.txt").write_text("\n".join(split[1]) + "\n")
    return root


SYNTH = {"bear": 23, "cows": 23, "dance": 23, "goat": 23, "swan": 23}  # 2 windows each


@pytest.fixture(scope="module")
def davis_tree(tmp_path_factory) -> Path:
    return write_davis_tree(tmp_path_factory.mktemp("davis") / "DAVIS", SYNTH)


@pytest.fixture(scope="module")
def synth_ds(davis_tree):
    return build_davis32(davis_tree, seed=0, test_fraction=0.2)


def check_clips(ds, n: int) -> None:
    f = ds.frames
    assert f.shape == (n, 11, 32, 32) and f.dtype == np.float32
    assert np.isfinite(f).all() and f.min() >= 0.0 and f.max() <= 1.0
    assert f.std() > 0.05  # real content, not a constant


def check_split_by_video(ds) -> None:
    test = ds.meta["test"].astype(bool)
    videos = ds.meta["video"]
    assert not set(videos[test]) & set(videos[~test]), "a video is on both sides of the split"
    assert sorted(set(videos[test])) == sorted(ds.source["test_videos"])


# --------------------------------------------------------------------------- DAVIS32 on synthetic trees


def test_synthetic_counts_shapes_and_metadata(synth_ds):
    ds = synth_ds
    check_clips(ds, len(SYNTH) * 2 * 63)
    check_split_by_video(ds)
    assert ds.source["videos"] == sorted(SYNTH)
    assert len(ds.source["test_videos"]) == 1  # round(0.2 * 5) videos on the test side
    m = ds.meta
    for name in SYNTH:
        sel = m["video"] == name
        assert sel.sum() == 2 * 63
        assert sorted(set(m["window"][sel])) == [0, 1]
        assert (m["first_frame"][sel] == m["window"][sel] * CLIP_FRAMES).all()
        for w in (0, 1):
            for s in range(3):
                cell = sel & (m["window"] == w) & (m["scale"] == s)
                assert sorted(m["location"][cell]) == list(range(21))
    # 120x200 frames shrink (or grow) to 128x213, 96x160, 64x107; the corners are that grid's
    for s, (h, w) in enumerate([(128, 213), (96, 160), (64, 107)]):
        cell = (m["video"] == "bear") & (m["window"] == 0) & (m["scale"] == s)
        corners = list(zip(m["row"][cell][np.argsort(m["location"][cell])],
                           m["col"][cell][np.argsort(m["location"][cell])]))
        assert corners == crop_grid(h, w)


def test_seeded_split_is_reproducible(davis_tree, synth_ds):
    again = build_davis32(davis_tree, seed=0, test_fraction=0.2)
    np.testing.assert_array_equal(again.frames, synth_ds.frames)
    np.testing.assert_array_equal(again.meta["test"], synth_ds.meta["test"])
    chosen = {tuple(build_davis32(davis_tree, seed=s, test_fraction=0.4, videos=["bear", "cows", "dance"])
                    .source["test_videos"]) for s in range(6)}
    assert len(chosen) > 1  # the seed matters
    assert all(len(c) == 1 for c in chosen)  # round(0.4 * 3) = 1


def test_davis_split_files_are_respected(tmp_path, davis_tree):
    root = tmp_path / "DAVIS"
    root.mkdir()
    os.symlink(davis_tree / "JPEGImages", root / "JPEGImages")
    sets = root / "ImageSets" / "2017"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("bear\ncows\ndance\n")
    (sets / "val.txt").write_text("goat\n\n")  # swan is in neither list: skipped
    ds = build_davis32(root, seed=123, test_fraction=0.5)
    check_split_by_video(ds)
    assert ds.source["test_videos"] == ["goat"]
    assert ds.source["unlisted_videos_skipped"] == ["swan"]
    assert set(ds.meta["video"]) == {"bear", "cows", "dance", "goat"}
    assert len(ds) == 4 * 2 * 63

    (sets / "val.txt").write_text("goat\ncows\n")
    with pytest.raises(InterpError, match="'cows' is listed in both"):
        build_davis32(root)


# --------------------------------------------------------------------------- crop geometry


def test_crop_grid_corners_at_the_three_davis_scales():
    # 854x480 DAVIS frames shrink to 228x128, 171x96 and 114x64 (width = round(854 * h / 480))
    assert crop_grid(128, 228) == [(r, c) for r in (0, 48, 96) for c in (0, 33, 65, 98, 131, 163, 196)]
    assert crop_grid(96, 171) == [(r, c) for r in (0, 32, 64) for c in (0, 23, 46, 70, 93, 116, 139)]
    assert crop_grid(64, 114) == [(r, c) for r in (0, 16, 32) for c in (0, 14, 27, 41, 55, 68, 82)]
    with pytest.raises(InterpError, match="smaller than one 32x32 crop"):
        crop_grid(31, 100)


def test_clip_is_the_crop_of_the_block_averaged_frame():
    # 384x576 frames shrink by exact factors 3, 4 and 6 to 128x192, 96x144 and 64x96, so the box
    # filter is a plain block mean there, computed here independently of Pillow
    rng = np.random.default_rng(7)
    frames = rng.random((CLIP_FRAMES, 384, 576), dtype=np.float32)
    clips, meta = clips_from_frames(frames)
    assert clips.shape == (63, 11, 32, 32) and clips.dtype == np.float32
    cols = {192: (0, 27, 53, 80, 107, 133, 160), 144: (0, 19, 37, 56, 75, 93, 112), 96: (0, 11, 21, 32, 43, 53, 64)}
    for s, (h, factor) in enumerate([(128, 3), (96, 4), (64, 6)]):
        w = 576 // factor
        blocks = frames.reshape(CLIP_FRAMES, h, factor, w, factor).mean(axis=(2, 4))
        corners = [(r, c) for r in (0, (h - 32) // 2, h - 32) for c in cols[w]]
        for loc, (r, c) in enumerate(corners):
            i = s * 21 + loc
            assert (meta["scale"][i], meta["location"][i], meta["row"][i], meta["col"][i]) == (s, loc, r, c)
            np.testing.assert_allclose(clips[i], blocks[:, r:r + 32, c:c + 32], atol=2e-6)


def test_short_video_gives_no_clips():
    clips, meta = clips_from_frames(np.zeros((10, 64, 64), np.float32))
    assert clips.shape == (0, 11, 32, 32) and all(len(v) == 0 for v in meta.values())


# --------------------------------------------------------------------------- real DAVIS frames


MINI_FRAMES = {"blackswan": 50, "bmx-trees": 80, "breakdance": 84, "camel": 90, "car-roundabout": 75, "dog": 60,
               "goat": 90, "kite-surf": 50, "parkour": 100, "soapbox": 99}


@pytest.mark.skipif(not (DAVIS_MINI / "JPEGImages" / "480p").is_dir(), reason="../shared/data/davis-mini absent")
def test_real_davis_mini():
    ds = build_davis32(DAVIS_MINI, seed=0)
    expected = sum(n // 11 for n in MINI_FRAMES.values()) * 63
    assert expected == 4221
    check_clips(ds, expected)
    check_split_by_video(ds)
    for name, n in MINI_FRAMES.items():
        assert (ds.meta["video"] == name).sum() == n // 11 * 63
    n_test = int(ds.meta["test"].sum())
    assert (len(ds) - n_test, n_test) == (3339, 882)  # the counts the README quotes for seed 0
    # natural video: neighbouring frames are much closer than random pairs of clips
    step = np.abs(np.diff(ds.frames, axis=1)).mean()
    across = np.abs(ds.frames[1:, 0] - ds.frames[:-1, 0]).mean()
    assert step < 0.5 * across


# --------------------------------------------------------------------------- the davis32 CLI


def test_davis32_cli_end_to_end(tmp_path, davis_tree, synth_ds):
    out = tmp_path / "davis32.npz"
    proc = run_cli("interp.data", "davis32", "--root", davis_tree, "--out", out, "--quiet", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(synth_ds)} sequences" in proc.stdout and "5 videos, 1 on the test side" in proc.stdout
    ds = data.load(out)
    np.testing.assert_array_equal(ds.frames, synth_ds.frames)
    np.testing.assert_array_equal(ds.meta["test"], synth_ds.meta["test"])
    assert list(ds.meta["video"]) == list(synth_ds.meta["video"])


def test_davis32_cli_one_line_errors(tmp_path, capsys, davis_tree):
    out = tmp_path / "d.npz"
    (tmp_path / "plain").mkdir()
    cases = [
        (["--root", tmp_path / "nowhere", "--out", out], ["nowhere", "does not exist", "--download"]),
        (["--root", tmp_path / "plain", "--out", out], ["not a davis folder", "JPEGImages"]),
        (["--root", davis_tree, "--out", out, "--test-fraction", "1.5"], ["--test-fraction", "1.5"]),
        (["--root", davis_tree, "--out", tmp_path], ["is a directory"]),
        (["--root", davis_tree, "--out", out, "--url", "http://127.0.0.1:9/x.zip"], ["--url", "--download"]),
        (["--root", davis_tree, "--out", out, "--download", "--sha256", "abc"], ["--sha256", "64 hexadecimal"]),
    ]
    for argv, needles in cases:
        assert_main_one_line(capsys, data_cli.main, PROG, ["davis32", *argv], *needles)
    assert not out.exists()


# --------------------------------------------------------------------------- downloads


class _State:
    """What the test server serves and what it saw."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.honour_range = True
        self.cut_after: int | None = None  # send only this many bytes of the next response, then hang up
        self.served = 0
        self.ranges: list[str | None] = []


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        st: _State = self.server.state
        body = st.files.get(self.path.lstrip("/"))
        rng = self.headers.get("Range")
        st.ranges.append(rng)
        if body is None:
            self.send_error(404)
            return
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and st.honour_range:
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        if st.cut_after is not None:
            chunk, st.cut_after = chunk[:st.cut_after], None
        # Counted before the write: once the bytes are out, the client may finish, and the test
        # read `served`, before this thread runs another line.
        st.served += len(chunk)
        self.wfile.write(chunk)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.state = _State()
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    srv.state.url = f"http://127.0.0.1:{srv.server_address[1]}/"
    try:
        yield srv.state
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def davis_zip(tmp_path: Path, videos=None) -> bytes:
    """A small zip holding a DAVIS/ tree, as the official archive does."""
    src = write_davis_tree(tmp_path / "zipsrc" / "DAVIS", videos or {"bike": 11, "boat": 12}, height=64, width=96)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(src.parent.rglob("*")):
            zf.write(p, p.relative_to(src.parent).as_posix())
    return buf.getvalue()


@pytest.fixture
def archive(tmp_path, server) -> bytes:
    body = davis_zip(tmp_path)
    server.files["DAVIS-2017-trainval-480p.zip"] = body
    return body


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_download_checksum_extract_and_build(tmp_path, capsys, server, archive):
    root, out = tmp_path / "data" / "DAVIS", tmp_path / "data" / "davis32.npz"
    root.parent.mkdir()
    argv = ["davis32", "--download", "--root", root, "--out", out, "--quiet",
            "--url", server.url + "DAVIS-2017-trainval-480p.zip", "--sha256", sha(archive).upper()]
    assert data_cli.main([str(a) for a in argv]) == 0
    assert server.served == len(archive) and server.ranges == [None]
    ds = data.load(out)
    check_clips(ds, 2 * 63)
    check_split_by_video(ds)
    assert sorted(p.name for p in (root / "JPEGImages" / "480p").iterdir()) == ["bike", "boat"]
    assert sorted(p.name for p in root.parent.iterdir()) == ["DAVIS", "davis32.npz"]  # archive and staging gone
    capsys.readouterr()
    # a second run finds the DAVIS folder and fetches nothing
    assert data_cli.main([str(a) for a in argv]) == 0
    assert server.served == len(archive)


def test_download_resumes_a_partial_file(tmp_path, server, archive):
    dest = tmp_path / "a.zip"
    half = len(archive) // 2
    (tmp_path / ".a.zip.part").write_bytes(archive[:half])
    server.files["a.zip"] = archive
    download(server.url + "a.zip", dest, sha256=sha(archive), progress=False)
    assert dest.read_bytes() == archive
    assert server.ranges == [f"bytes={half}-"] and server.served == len(archive) - half
    assert not (tmp_path / ".a.zip.part").exists()


def test_download_restarts_when_the_server_ignores_range(tmp_path, server, archive):
    dest = tmp_path / "a.zip"
    (tmp_path / ".a.zip.part").write_bytes(archive[:100])
    server.files["a.zip"], server.honour_range = archive, False
    download(server.url + "a.zip", dest, sha256=sha(archive), progress=False)
    assert dest.read_bytes() == archive and server.served == len(archive)


def test_download_with_a_complete_partial_file_fetches_nothing(tmp_path, server, archive):
    (tmp_path / ".a.zip.part").write_bytes(archive)
    server.files["a.zip"] = archive
    download(server.url + "a.zip", tmp_path / "a.zip", sha256=sha(archive), progress=False)
    assert (tmp_path / "a.zip").read_bytes() == archive and server.served == 0  # the server said 416


def test_interrupted_download_resumes_on_the_next_call(tmp_path, server, archive):
    dest = tmp_path / "a.zip"
    server.files["a.zip"], server.cut_after = archive, 1000
    with pytest.raises(InterpError, match="interrupted after 1000 bytes .*run again to resume"):
        download(server.url + "a.zip", dest, sha256=sha(archive), progress=False)
    assert not dest.exists() and (tmp_path / ".a.zip.part").stat().st_size == 1000
    download(server.url + "a.zip", dest, sha256=sha(archive), progress=False)
    assert dest.read_bytes() == archive and server.served == len(archive)


def test_wrong_checksum_is_one_line_and_leaves_no_file(tmp_path, capsys, server, archive):
    root = tmp_path / "DAVIS"
    argv = ["davis32", "--download", "--root", root, "--out", tmp_path / "d.npz", "--quiet",
            "--url", server.url + "DAVIS-2017-trainval-480p.zip", "--sha256", "0" * 64]
    assert_main_one_line(capsys, data_cli.main, PROG, argv, "checksum mismatch", "0" * 64, sha(archive))
    assert sorted(os.listdir(tmp_path)) == ["zipsrc"]  # no archive, no partial file, no DAVIS folder


def test_digest_is_recorded_without_sha256(tmp_path, server, archive):
    server.files["a.zip"] = archive
    download(server.url + "a.zip", tmp_path / "a.zip", progress=False)
    assert (tmp_path / "a.zip.sha256").read_text().split() == [sha(archive), "a.zip"]
    (tmp_path / "a.zip").unlink()
    server.files["a.zip"] = archive[:-1] + b"!"  # the server now sends something else
    with pytest.raises(InterpError, match="checksum mismatch"):
        download(server.url + "a.zip", tmp_path / "a.zip", progress=False)
    assert not (tmp_path / "a.zip").exists()


def test_unreachable_host_is_an_offline_error(tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["davis32", "--download", "--root", tmp_path / "DAVIS", "--out", tmp_path / "d.npz", "--quiet",
            "--url", f"http://127.0.0.1:{port}/DAVIS-2017-trainval-480p.zip"]
    assert_main_one_line(capsys, data_cli.main, PROG, argv, f"cannot reach 127.0.0.1:{port}", "offline")


def test_http_error_and_bad_url_are_one_line(tmp_path, capsys, server):
    argv = ["davis32", "--download", "--root", tmp_path / "DAVIS", "--out", tmp_path / "d.npz", "--quiet", "--url"]
    assert_main_one_line(capsys, data_cli.main, PROG, [*argv, server.url + "missing.zip"], "HTTP 404")
    assert_main_one_line(capsys, data_cli.main, PROG, [*argv, "ftp://example.org/x.zip"], "bad URL", "http://")
    assert server.ranges == [None]


def test_download_into_a_folder_that_is_not_davis_is_refused(tmp_path, capsys, server, archive):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("mine")
    argv = ["davis32", "--download", "--root", tmp_path / "stuff", "--out", tmp_path / "d.npz", "--quiet",
            "--url", server.url + "DAVIS-2017-trainval-480p.zip"]
    assert_main_one_line(capsys, data_cli.main, PROG, argv, "not a DAVIS folder", "another --root")
    assert server.served == 0


@pytest.mark.parametrize("member", ["../evil", "DAVIS/../../evil", "/abs/evil", "C:/evil", "..\\evil"])
def test_extract_refuses_path_traversal(tmp_path, member):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("DAVIS/ok.txt", "fine")
        zf.writestr(zipfile.ZipInfo(member), "gotcha")
    dest = tmp_path / "out"
    with pytest.raises(InterpError, match="refusing to extract member"):
        extract_zip(archive, dest)
    assert not dest.exists() and not (tmp_path / "evil").exists()  # nothing at all was written


def test_fetch_davis_refuses_an_archive_that_is_not_davis(tmp_path, server):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("something/else.txt", "no frames here")
    server.files["x.zip"] = buf.getvalue()
    with pytest.raises(InterpError, match="does not unpack to a DAVIS folder"):
        fetch_davis(tmp_path / "DAVIS", url=server.url + "x.zip", progress=False)
    assert not (tmp_path / "DAVIS").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".DAVIS.extract")]


def test_extract_refuses_a_file_that_is_not_a_zip(tmp_path):
    (tmp_path / "a.zip").write_bytes(b"not a zip at all")
    with pytest.raises(InterpError, match="not a readable zip archive"):
        extract_zip(tmp_path / "a.zip", tmp_path / "out")


# --------------------------------------------------------------------------- your own footage


def gray_frames(n: int, height: int, width: int, seed: int) -> np.ndarray:
    """uint8 grayscale frames [n, H, W] of a smooth moving pattern."""
    rgb = smooth_frames(n, height, width, seed).astype(np.float32)
    return (rgb @ np.array([0.299, 0.587, 0.114], np.float32)).round().astype(np.uint8)


def write_video(path: Path, frames: np.ndarray, codec: str, pix_fmt: str) -> Path:
    """Encode uint8 frames ([n, H, W] gray or [n, H, W, 3] RGB) with PyAV."""
    import av

    with av.open(str(path), "w") as c:
        stream = c.add_stream(codec, rate=25)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        for f in frames:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="gray" if f.ndim == 2 else "rgb24")
            for packet in stream.encode(vf):
                c.mux(packet)
        for packet in stream.encode():
            c.mux(packet)
    return path


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("footage")
    g = gray_frames(25, 96, 128, seed=3)
    rgb = smooth_frames(25, 96, 128, seed=4)
    return {
        "mp4": write_video(d / "walk.mp4", rgb, "mpeg4", "yuv420p"),  # lossy, through YUV
        "mkv": write_video(d / "pan.mkv", g, "ffv1", "gray"),  # lossless grayscale
        "gray": g, "rgb": rgb, "dir": d,
    }


def test_video_files_give_davis32_clips(footage):
    from interp.data.footage import build_footage

    ds = build_footage([footage["mp4"], footage["mkv"]], seed=0, test_fraction=0.5)
    check_clips(ds, 2 * 2 * 63)  # 25 frames: 2 windows of 11, the rest dropped
    check_split_by_video(ds)
    assert ds.source["videos"] == ["walk", "pan"] and len(ds.source["test_videos"]) == 1
    for name in ("walk", "pan"):
        sel = ds.meta["video"] == name
        assert sel.sum() == 126 and sorted(set(ds.meta["window"][sel])) == [0, 1]
        assert (ds.meta["first_frame"][sel] == 11 * ds.meta["window"][sel]).all()
    assert [i["frames"] for i in ds.source["inputs"]] == [25, 25]
    assert all(i["enlarged"] for i in ds.source["inputs"])  # 96 px high < 128

    # lossless grayscale video: exactly the clips of the frames written
    expected, _ = clips_from_frames(footage["gray"][:22].astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.frames[ds.meta["video"] == "pan"], expected)

    # lossy mpeg4 through YUV 4:2:0: close to the luma of the RGB frames written
    luma = footage["rgb"][:22].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255
    expected, _ = clips_from_frames(luma)
    got = ds.frames[ds.meta["video"] == "walk"]
    assert np.abs(got.mean(axis=(2, 3)) - expected.mean(axis=(2, 3))).max() < 0.03
    assert np.abs(got - expected).mean() < 0.04


def test_folder_of_frames_in_numeric_order(tmp_path):
    from interp.data.footage import build_footage

    rgb = smooth_frames(22, 64, 80, seed=5)
    folder = tmp_path / "my shot"
    folder.mkdir()
    for t, f in enumerate(rgb):  # frame1.png ... frame22.png: name order would put frame10 before frame2
        Image.fromarray(f).save(folder / f"frame{t + 1}.png")
    (folder / ".DS_Store").write_bytes(b"junk")
    (folder / "notes.txt").write_text("not a frame")
    ds = build_footage([folder], test_fraction=0.2)
    check_clips(ds, 2 * 63)
    assert set(ds.meta["video"]) == {"my shot"}
    assert not ds.meta["test"].any() and "single video" in ds.source["split"]
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255
    expected, _ = clips_from_frames(luma)
    np.testing.assert_allclose(ds.frames, expected, atol=1.01 / 255)  # Pillow's integer luma rounds


def test_footage_split_options(footage):
    from interp.data.footage import build_footage

    one = build_footage([footage["mkv"]], test_fraction=1.0)
    assert one.meta["test"].all() and one.source["test_videos"] == ["pan"]
    two = build_footage([footage["mkv"], footage["mp4"]], test_fraction=0.0)
    assert not two.meta["test"].any()
    a = build_footage([footage["mkv"], footage["mp4"]], seed=11, test_fraction=0.5)
    b = build_footage([footage["mkv"], footage["mp4"]], seed=11, test_fraction=0.5)
    assert a.source["test_videos"] == b.source["test_videos"]


def test_video_names_stay_unique(tmp_path, footage):
    from interp.data.footage import build_footage, unique_names

    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        os.symlink(footage["mkv"], tmp_path / sub / "clip.mkv")
    (tmp_path / "c").mkdir()
    os.symlink(footage["mp4"], tmp_path / "c" / "clip.mp4")
    (tmp_path / "d" / "clip").mkdir(parents=True)
    names = unique_names([tmp_path / "a" / "clip.mkv", tmp_path / "b" / "clip.mkv", tmp_path / "c" / "clip.mp4",
                          tmp_path / "d" / "clip", tmp_path / "e.mp4"])
    assert names == ["clip.mkv", "clip.mkv-2", "clip.mp4", "clip", "e"]
    ds = build_footage([tmp_path / "a" / "clip.mkv", tmp_path / "c" / "clip.mp4"], test_fraction=0)
    assert ds.source["videos"] == ["clip.mkv", "clip.mp4"]


def test_video_cli_end_to_end(tmp_path, capsys, footage):
    out = tmp_path / "mine.npz"
    assert data_cli.main(["video", str(footage["mp4"]), str(footage["mkv"]), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "252 sequences" in printed and "2 videos, 1 on the test side" in printed
    assert "note: walk is 96 pixels high" in printed
    ds = data.load(out)
    check_clips(ds, 252)
    check_split_by_video(ds)


def test_video_cli_one_line_errors(tmp_path, capsys, footage):
    out = tmp_path / "o.npz"
    (tmp_path / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    (tmp_path / "notes.mov").write_text("just some text\n" * 20)
    (tmp_path / "empty").mkdir()
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for t in range(12):
        Image.fromarray(np.full((64 if t != 5 else 48, 80), 100, np.uint8)).save(mixed / f"{t:03d}.png")
    short = write_video(tmp_path / "short.mp4", gray_frames(7, 64, 64, seed=1), "mpeg4", "yuv420p")
    videos = tmp_path / "videos"
    videos.mkdir()
    os.symlink(footage["mp4"], videos / "x.mp4")
    (tmp_path / "f.png").write_bytes((mixed / "000.png").read_bytes())
    with wave.open(str(tmp_path / "sound.wav"), "wb") as w:  # audio only
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(np.zeros(8000, np.int16).tobytes())
    cases = [
        ([tmp_path / "nowhere.mp4"], ["nowhere.mp4", "does not exist"]),
        ([tmp_path / "corrupt.mp4"], ["cannot read video", "corrupt.mp4"]),
        ([tmp_path / "notes.mov"], ["cannot read video", "notes.mov"]),
        ([tmp_path / "empty"], ["empty", "no frames"]),
        ([videos], ["no frames", "video files"]),
        ([mixed], ["frame 5", "80x48", "80x64", "one size"]),
        ([short], ["short.mp4", "too short", "7 frames", "11"]),
        ([tmp_path / "f.png"], ["is an image", "folder"]),
        ([tmp_path / "sound.wav"], ["sound.wav", "no video stream"]),
        ([footage["mkv"], tmp_path / "corrupt.mp4"], ["cannot read video", "corrupt.mp4"]),
        ([footage["mkv"], footage["mkv"]], ["given twice"]),
    ]
    for inputs, needles in cases:
        assert_main_one_line(capsys, data_cli.main, PROG, ["video", *inputs, "--out", out, "--quiet"], *needles)
    assert_main_one_line(capsys, data_cli.main, PROG, ["video", footage["mkv"], "--out", tmp_path], "is a directory")
    assert_main_one_line(capsys, data_cli.main, PROG, ["video", footage["mkv"], "--out", out, "--bogus"],
                         "unrecognized arguments", "--bogus")
    assert_main_one_line(capsys, data_cli.main, PROG, ["video", footage["mkv"], "--out", out, "--test-fraction", "2"],
                         "--test-fraction")
    assert_main_one_line(capsys, data_cli.main, PROG, ["video", "--out", out], "FILE_OR_FOLDER")
    assert not out.exists()
