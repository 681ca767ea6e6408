"""The built-in natural test set (interp.natural) and the choice between it and DAVIS32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import shift

from interp import InterpError
from interp.data import natural
from interp.data.dataset import Dataset, load, save
from interp.data.natural import BUILTIN_LABEL, ENV_VAR, PHOTOS, NaturalConfig, natural_test_set, natural_video_test_set

N = 40

# the files behind PHOTOS, as they ship inside the scikit-image wheel
PHOTO_FILES = {"astronaut": "astronaut.png", "brick": "brick.png", "camera": "camera.png",
               "chelsea": "chelsea.png", "coffee": "coffee.png", "coins": "coins.png", "grass": "grass.png",
               "gravel": "gravel.png", "immunohistochemistry": "ihc.png", "moon": "moon.png",
               "motorcycle": "motorcycle_left.png", "page": "page.png", "rocket": "rocket.jpg",
               "text": "text.png"}


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return natural_test_set(N, seed=3)


@pytest.fixture(scope="module")
def backgrounds() -> Dataset:
    """The same clips without their objects (the background draws come first)."""
    return natural_test_set(N, seed=3, config=NaturalConfig(object_probability=0.0))


def test_photographs_are_bundled_and_load():
    import skimage.data

    assert set(PHOTO_FILES) == set(PHOTOS)
    for name in PHOTOS:
        assert (Path(skimage.data.data_dir) / PHOTO_FILES[name]).is_file(), name  # no download
        img = natural.photo(name)
        assert img.ndim == 2 and img.dtype == np.float32 and min(img.shape) >= 150, name
        assert 0.0 <= img.min() < img.max() <= 1.0, name


def test_shapes_dtype_range_and_labels(ds):
    assert ds.frames.shape == (N, 11, 32, 32)
    assert ds.frames.dtype == np.float32
    assert np.isfinite(ds.frames).all()
    assert ds.frames.min() >= 0.0 and ds.frames.max() <= 1.0
    assert ds.frames.std() > 0.05  # photographs, not flat fields
    assert ds.meta["test"].dtype == bool and ds.meta["test"].all()
    assert len(ds.test) == N
    assert ds.source["name"] == "builtin-natural" and ds.source["label"] == BUILTIN_LABEL
    assert "not DAVIS" in ds.source["label"]
    assert set(ds.meta["photo"]) <= set(PHOTOS)
    assert ds.meta["has_object"].all()
    assert (ds.meta["photo"] != ds.meta["object_photo"]).all()
    assert ds.meta["background_motion"].shape == (N, 11, 2)
    assert ds.meta["object_alpha"].shape == (N, 11, 32, 32)


def test_round_trips_through_the_dataset_file_format(ds, tmp_path):
    back = load(save(ds[:5], tmp_path / "nat.npz"))
    np.testing.assert_array_equal(back.frames, ds.frames[:5])
    assert back.source == ds.source
    for k, v in ds.meta.items():
        np.testing.assert_array_equal(back.meta[k], v[:5])


def test_deterministic_per_seed_and_clip(ds):
    again = natural_test_set(N, seed=3)
    np.testing.assert_array_equal(again.frames, ds.frames)
    for k, v in ds.meta.items():
        np.testing.assert_array_equal(again.meta[k], v)
    # clip i does not depend on how many clips are drawn
    np.testing.assert_array_equal(natural_test_set(7, seed=3).frames, ds.frames[:7])
    assert not np.array_equal(natural_test_set(7, seed=4).frames, ds.frames[:7])


def test_consecutive_frames_differ(ds):
    change = np.abs(np.diff(ds.frames, axis=1)).max(axis=(2, 3))  # [N, 10]
    assert (change > 0.02).all()
    assert np.abs(np.diff(ds.frames, axis=1)).mean() > 0.02


def test_camera_motion_is_the_recorded_one(backgrounds):
    """Without objects, frame t + 1 is frame t shifted by the recorded displacement."""
    assert not backgrounds.meta["has_object"].any()
    assert backgrounds.meta["object_alpha"].max() == 0.0
    m = 6  # leave out borders, where new content enters
    errors = {"recorded": [], "copy": [], "reversed": []}
    for i in range(len(backgrounds)):
        f = backgrounds.frames[i].astype(np.float64)
        d = backgrounds.meta["background_motion"][i].astype(np.float64)
        np.testing.assert_allclose(d[0], 0.0)
        np.testing.assert_allclose(d[1] - d[0], backgrounds.meta["camera_velocity"][i]
                                   + 0.5 * backgrounds.meta["camera_acceleration"][i], atol=1e-5)
        for t in range(f.shape[0] - 1):
            step = d[t + 1] - d[t]
            preds = {"recorded": shift(f[t], step, order=3, mode="nearest"), "copy": f[t],
                     "reversed": shift(f[t], -step, order=3, mode="nearest")}
            for k, p in preds.items():
                errors[k].append(((p - f[t + 1])[m:-m, m:-m] ** 2).mean())
    e = {k: np.mean(v) for k, v in errors.items()}
    assert e["recorded"] < 0.1 * e["copy"], e
    assert e["recorded"] < 0.05 * e["reversed"], e


def test_object_occludes_and_disoccludes(ds, backgrounds):
    alpha = ds.meta["object_alpha"]
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    assert (alpha.max(axis=(1, 2, 3)) > 0.99).mean() > 0.9  # nearly every object is seen whole somewhere
    # where the object is absent the frame is its background, exactly
    absent = alpha == 0
    np.testing.assert_array_equal(ds.frames[absent], backgrounds.frames[absent])
    covered = alpha > 0.99
    assert np.abs(ds.frames[covered] - backgrounds.frames[covered]).mean() > 0.05
    # pixels visible in frame 0 that the object covers later, and covered ones it uncovers
    occluded = ((alpha[:, :1] == 0) & covered[:, 1:]).any(axis=1).sum(axis=(1, 2))  # [N]
    disoccluded = (covered[:, :1] & (alpha[:, 1:] == 0)).any(axis=1).sum(axis=(1, 2))
    assert (occluded > 0).mean() > 0.9, occluded
    assert (disoccluded > 0).mean() > 0.8, disoccluded
    # the object moves relative to the background at the recorded speed (0.5 .. 2.5 px/frame)
    assert ds.meta["object_speed"].min() >= 0.5 and ds.meta["object_speed"].max() <= 2.5


def test_builtin_is_fast():
    import time

    start = time.perf_counter()
    natural_test_set(200, seed=1)
    assert time.perf_counter() - start < 10.0


def _tiny_davis(path: Path, videos=("cat", "dog", "owl"), test=("dog",)) -> Path:
    rng = np.random.default_rng(0)
    names = np.repeat(np.array(videos), 2)
    frames = rng.uniform(size=(len(names), 11, 32, 32)).astype(np.float32)
    ds = Dataset(frames, {"video": names, "test": np.isin(names, test)},
                 {"name": "davis32", "test_videos": list(test)})
    return save(ds, path)


def test_fallback_order(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    first, second = tmp_path / "davis32.npz", tmp_path / "davis32-mini.npz"
    # nothing there: the built-in set, labelled as such
    ds, label = natural_video_test_set(prefer=(first, second), n=3)
    assert label == BUILTIN_LABEL and ds.source["name"] == "builtin-natural" and len(ds) == 3
    # the second file only: its test split
    _tiny_davis(second, test=("dog",))
    ds, label = natural_video_test_set(prefer=(first, second), n=3)
    assert label == "DAVIS32 test split (davis32-mini.npz: dog)"
    assert len(ds) == 2 and set(ds.meta["video"]) == {"dog"}
    # the first file wins when both exist
    _tiny_davis(first, test=("cat", "owl"))
    ds, label = natural_video_test_set(prefer=(first, second), n=3)
    assert label == "DAVIS32 test split (davis32.npz: cat, owl)" and len(ds) == 4
    # relative paths are read from the repository root
    monkeypatch.setattr(natural, "REPO_ROOT", tmp_path)
    (tmp_path / "data").mkdir()
    _tiny_davis(tmp_path / "data" / "d.npz", test=("owl",))
    _, label = natural_video_test_set(prefer=("data/missing.npz", "data/d.npz"), n=3)
    assert label == "DAVIS32 test split (d.npz: owl)"


def test_environment_variable(tmp_path, monkeypatch):
    preferred = _tiny_davis(tmp_path / "preferred.npz", test=("dog",))
    chosen = _tiny_davis(tmp_path / "chosen.npz", test=("cat",))
    monkeypatch.setenv(ENV_VAR, str(chosen))
    ds, label = natural_video_test_set(prefer=(preferred,), n=3)
    assert label == "DAVIS32 test split (chosen.npz: cat)" and set(ds.meta["video"]) == {"cat"}
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "absent.npz"))  # an explicit choice must exist
    with pytest.raises(InterpError, match="INTERP_DAVIS32"):
        natural_video_test_set(prefer=(preferred,), n=3)
    monkeypatch.setenv(ENV_VAR, "")  # empty: as if unset
    _, label = natural_video_test_set(prefer=(preferred,), n=3)
    assert label.startswith("DAVIS32 test split (preferred.npz")


def test_a_broken_davis_file_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    bad = tmp_path / "davis32.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(InterpError, match="davis32.npz"):
        natural_video_test_set(prefer=(bad,), n=3)


def test_bad_arguments():
    with pytest.raises(InterpError):
        natural_test_set(0)
    with pytest.raises(InterpError):
        natural_test_set(3, seed=-1)
    with pytest.raises(InterpError):
        NaturalConfig(photos=("nonexistent",))
