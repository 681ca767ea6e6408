"""One clip set from several sources (interp.data.sources): split by video across sources,
recorded test videos, cached by fingerprint and rebuilt when a source changes; the card's
``source = "sources"``; the natural-video augmentations."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_davis import smooth_frames, write_davis_tree

from interp import InterpError
from interp.data.dataset import save
from interp.data.sources import build_sources, cached, check_sources, fingerprint
from interp.training.cards import read_card
from interp.training.windows import load_clips, mirror_and_reverse


def write_frame_folders(root: Path, videos: dict[str, int], seed: int = 10) -> Path:
    """A folder of frame folders (``root/<clip>/00000.jpg ...``), like ../shared/data/footage."""
    for i, (name, n) in enumerate(videos.items()):
        d = root / name
        d.mkdir(parents=True)
        for t, frame in enumerate(smooth_frames(n, 64, 96, seed=seed + i)):
            Image.fromarray(frame).convert("L").save(d / f"{t:05d}.jpg", quality=92)
    (root / "README.md").write_text("not a frame\n")
    return root


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory):
    base = tmp_path_factory.mktemp("sources")
    davis = write_davis_tree(base / "DAVIS", {"bear": 11, "cows": 11, "dance": 11, "goat": 22, "swan": 11})
    footage = write_frame_folders(base / "footage", {f"clip{i}": 11 for i in range(7)} | {"bear": 11})
    return base, [{"kind": "davis", "path": davis, "test_fraction": 0.2},
                  {"kind": "frames", "path": footage, "test_fraction": 0.3}]


def test_sources_concatenate_and_split_by_video(two_sources):
    _, sources = two_sources
    ds = build_sources(sources, seed=0)
    assert ds.frames.shape[1:] == (11, 32, 32) and ds.frames.dtype == np.float32
    assert len(ds) == 63 * (6 + 8)  # one window per video, goat has two
    videos = ds.meta["video"]
    # names carry their source, so the 'bear' of each source stays two videos
    assert {"DAVIS/bear", "footage/bear"} <= set(videos)
    # the split is by video: every clip of a video on one side
    for v in set(videos):
        flags = set(ds.meta["test"][videos == v].tolist())
        assert len(flags) == 1, v
    test = sorted(set(videos[ds.meta["test"]]))
    assert test == ds.source["test_videos"]
    per_source = {s["name"]: s for s in ds.source["sources"]}
    assert len(per_source["DAVIS"]["test_videos"]) == 1  # 20% of 5 videos
    assert len(per_source["footage"]["test_videos"]) == 2  # 30% of 8 clips, rounded
    assert ds.meta["source_index"].tolist() == [0] * (63 * 6) + [1] * (63 * 8)
    # seeded: the same seed gives the same split, another seed another one somewhere
    again = build_sources(sources, seed=0)
    assert again.source["test_videos"] == ds.source["test_videos"]
    assert np.array_equal(again.frames, ds.frames)
    splits = {tuple(build_sources(sources, seed=s).source["test_videos"]) for s in range(4)}
    assert len(splits) > 1


def test_cache_is_reused_and_rebuilt_when_a_source_changes(tmp_path, two_sources):
    base, sources = two_sources
    # a private copy of the footage source, so that changing a frame does not touch the fixture
    footage = write_frame_folders(tmp_path / "footage", {f"clip{i}": 11 for i in range(3)})
    srcs = [sources[0], {"kind": "frames", "path": footage, "test_fraction": 0.4, "name": "footage"}]
    out = tmp_path / "set.npz"
    said = []
    first = cached(srcs, out, log=said.append)
    assert out.exists() and said and "building" in said[0]
    stamp = out.stat().st_mtime_ns
    said.clear()
    second = cached(srcs, out, log=said.append)
    assert out.stat().st_mtime_ns == stamp and not said  # read back, not rebuilt
    assert second.source["fingerprint"] == first.source["fingerprint"]
    assert np.array_equal(second.frames, first.frames)
    # moving the data (its name kept) does not change the fingerprint; changing one frame does
    moved = tmp_path / "moved"
    footage.rename(moved)
    assert fingerprint([sources[0], {**srcs[1], "path": moved}], 0) == first.source["fingerprint"]
    frame = moved / "clip1" / "00003.jpg"
    Image.fromarray(np.zeros((64, 96), np.uint8)).save(frame)
    srcs[1]["path"] = moved
    third = cached(srcs, out, log=said.append)
    assert said and "rebuilding" in said[0]
    assert third.source["fingerprint"] != first.source["fingerprint"]
    assert not np.array_equal(third.frames, first.frames)
    # another seed is another clip set too
    assert fingerprint(srcs, 1) != fingerprint(srcs, 0)


def test_npz_source_keeps_its_split_and_a_video_file_folder_is_refused_when_empty(tmp_path, two_sources):
    _, sources = two_sources
    part = build_sources(sources[:1], seed=0)
    npz = save(part, tmp_path / "part.npz")
    ds = build_sources([{"kind": "npz", "path": npz}, sources[1]], seed=0)
    n = len(part)
    assert np.array_equal(ds.meta["test"][:n], part.meta["test"])
    assert set(ds.meta["video"][:n]) == {f"part/{v}" for v in part.meta["video"]}
    (tmp_path / "empty").mkdir()
    with pytest.raises(InterpError, match="holds no video files"):
        build_sources([{"kind": "video", "path": tmp_path / "empty"}])


@pytest.mark.parametrize("bad, message", [
    ([], "non-empty list"),
    ([{"kind": "tape", "path": "x"}], "kind must be one of"),
    ([{"kind": "davis"}], "path must be"),
    ([{"kind": "davis", "path": "x", "test_fraction": 2}], "test_fraction must be"),
    ([{"kind": "npz", "path": "x.npz", "test_fraction": 0.1}], "keeps its own split"),
    ([{"kind": "frames", "path": "a/x"}, {"kind": "frames", "path": "b/x"}], "two sources are named 'x'"),
    ([{"kind": "frames", "path": "x", "colour": True}], "unknown key 'colour'"),
])
def test_bad_sources_one_line(bad, message):
    with pytest.raises(InterpError, match=message) as err:
        check_sources(bad)
    assert "\n" not in str(err.value)


def test_missing_source_names_the_path(tmp_path):
    with pytest.raises(InterpError, match="does not exist"):
        build_sources([{"kind": "frames", "path": tmp_path / "nowhere"}])


def _card(folder: Path, sources: list[dict], extra: str = "") -> Path:
    lines = ["[model]", "tau = 2", "width = 8", "", "[data]", 'source = "sources"', 'path = "set.npz"', "seed = 0"]
    for s in sources:
        lines += ["", "[[data.sources]]", f'kind = "{s["kind"]}"',
                  f'path = "{os.path.relpath(s["path"], folder)}"', f"test_fraction = {s['test_fraction']}"]
    lines += ["", "[train]", 'recipe = "smoke"', "samples = 64", extra]
    path = folder / "card.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_card_with_sources_builds_the_set_beside_the_card(tmp_path, two_sources):
    _, sources = two_sources
    card = read_card(_card(tmp_path, sources))
    train, test, desc = load_clips(card)
    assert (tmp_path / "set.npz").exists()
    assert len(train) + len(test) == 63 * 14 and len(test) > 0
    assert desc["source_detail"]["test_videos"] and desc["fingerprint"]


def test_card_with_bad_sources_names_the_line(tmp_path):
    path = tmp_path / "card.toml"
    path.write_text('[model]\ntau = 1\n\n[data]\nsource = "sources"\npath = "s.npz"\nsources = [{kind = "tape", '
                    'path = "x"}]\n')
    with pytest.raises(InterpError, match=r"card.toml, line 7: .*kind must be one of"):
        read_card(path)


def test_mirror_and_reverse_draw_per_window():
    g = torch.Generator().manual_seed(0)
    w = torch.rand(400, 3, 4, 4)
    out = mirror_and_reverse(w, g, hflip=True, reverse=True)
    kinds = []
    for a, b in zip(w, out):
        options = {"same": a, "h": a.flip(-1), "r": a.flip(0), "hr": a.flip(-1).flip(0)}
        match = [k for k, v in options.items() if torch.equal(v, b)]
        assert len(match) == 1
        kinds.append(match[0])
    counts = {k: kinds.count(k) for k in ("same", "h", "r", "hr")}
    assert all(60 < c < 140 for c in counts.values()), counts  # about 100 each
    assert torch.equal(mirror_and_reverse(w, g, hflip=False, reverse=False), w)


def test_data_card_cli_builds_and_reports_the_split(tmp_path, two_sources, capsys):
    from conftest import assert_main_one_line

    from interp.cli import data as data_cli

    _, sources = two_sources
    card = _card(tmp_path, sources)
    assert data_cli.main(["card", str(card), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "set.npz").exists() and "test:" in out and "DAVIS (davis)" in out
    leaves = tmp_path / "leaves.toml"
    leaves.write_text('[model]\ntau = 2\n\n[data]\nsource = "leaves"\nn = 100\n')
    assert_main_one_line(capsys, data_cli.main, "python -m interp.data", ["card", leaves], "source = \"sources\"")
