"""``python -m data.prepare`` on small synthetic archives, folders and .mat files: what lands
where, the official pairing and patch rules, and the refusals of unknown, incomplete or damaged
sources. The official counts and sizes are shrunk with monkeypatch where a set is large."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data import official_sets
from data.archives import clean_member, open_source
from data.prepare import main


def png(height: int = 6, width: int = 5, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def make_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def make_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---- sources ----------------------------------------------------------------------------


def test_members_are_cleaned_of_junk_and_escapes() -> None:
    assert clean_member("./DIV2K_train_HR/0001.png") == "DIV2K_train_HR/0001.png"
    assert clean_member("a\\b.png") == "a/b.png"
    for junk in ("__MACOSX/a/0001.png", "a/._0001.png", "a/.DS_Store", "../x.png", "/abs.png"):
        assert clean_member(junk) is None


def test_zip_tar_and_folder_list_and_read_the_same_files(tmp_path: Path) -> None:
    files = {"set/b.png": b"bb", "set/a.png": b"aa", "set/__MACOSX/x": b"", "top.txt": b"t"}
    files["__MACOSX/set/._a.png"] = b"fork"
    sources = [
        open_source(make_zip(tmp_path / "s.zip", files)),
        open_source(make_tar(tmp_path / "s.tar.gz", files)),
        open_source(make_folder(tmp_path / "folder", files)),
    ]
    for source in sources:
        assert sorted(source.files) == ["set/__MACOSX/x", "set/a.png", "set/b.png", "top.txt"]
        assert dict(source.read(["set/a.png", "set/b.png"])) == {
            "set/a.png": b"aa",
            "set/b.png": b"bb",
        }


def test_unreadable_sources_are_named(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    code, _, err = run(capsys, "DIV2K", tmp_path / "notes.txt", tmp_path / "out")
    assert code == 2 and "neither a folder nor a zip or tar archive" in err
    whole = make_zip(tmp_path / "whole.zip", {f"DIV2K_valid_HR/{n:04d}.png": png() for n in (801,)})
    (tmp_path / "cut.zip").write_bytes(whole.read_bytes()[:-30])  # an interrupted download
    code, _, err = run(capsys, "DIV2K", tmp_path / "cut.zip", tmp_path / "out")
    assert code == 2 and "cannot read the archive" in err and "incomplete download" in err
    code, _, err = run(capsys, "DIV2K", tmp_path / "missing.zip", tmp_path / "out")
    assert code == 2 and "no such file or folder" in err
    with pytest.raises(SystemExit):
        main(["Kodak", str(whole), str(tmp_path / "out")])
    assert (
        "unknown data set 'Kodak'; choose one of DIV2K, GoPro, Rain13K" in capsys.readouterr().err
    )


# ---- DIV2K ------------------------------------------------------------------------------


def test_div2k_valid_is_copied_unchanged_and_summarized(tmp_path: Path, capsys) -> None:
    files = {f"DIV2K_valid_HR/{n:04d}.png": png(seed=n) for n in range(801, 901)}
    code, out, _ = run(capsys, "div2k", make_zip(tmp_path / "v.zip", files), tmp_path / "DIV2K")
    assert code == 0
    written = sorted((tmp_path / "DIV2K" / "DIV2K_valid_HR").iterdir())
    assert [p.name for p in written] == [f"{n:04d}.png" for n in range(801, 901)]
    assert written[0].read_bytes() == files["DIV2K_valid_HR/0801.png"]
    assert (
        out.strip() == f"DIV2K valid HR: 100 images, 5x6 (w x h) -> {tmp_path}/DIV2K/DIV2K_valid_HR"
    )
    assert [p.name for p in (tmp_path / "DIV2K").iterdir()] == ["DIV2K_valid_HR"]  # no stage left


def test_an_incomplete_div2k_names_what_is_missing_unless_partial(tmp_path: Path, capsys) -> None:
    files = {f"x/DIV2K_train_HR/{n:04d}.png": png(seed=n) for n in (1, 2, 3)}
    files["x/DIV2K_train_LR_bicubic/X2/0001x2.png"] = png(3, 2)  # LR files are not HR images
    source = make_tar(tmp_path / "train.tar.gz", files)
    code, _, err = run(capsys, "DIV2K", source, tmp_path / "out")
    assert code == 2
    assert "is incomplete: 797 of the official 800 images are missing: 0004.png, 0005.png" in err
    assert "(and 787 more)" in err and "--partial" in err
    assert not (tmp_path / "out").exists()
    code, out, _ = run(capsys, "DIV2K", source, tmp_path / "out", "--partial")
    assert code == 0 and "DIV2K train HR: 3 images" in out
    assert len(list((tmp_path / "out" / "DIV2K_train_HR").iterdir())) == 3


def test_an_unknown_archive_says_what_it_holds(tmp_path: Path, capsys) -> None:
    source = make_zip(tmp_path / "other.zip", {"photos/a.png": png(), "photos/b.png": png()})
    code, _, err = run(capsys, "DIV2K", source, tmp_path / "out")
    assert code == 2 and "holds no DIV2K HR images" in err and "photos/ (2 file(s))" in err
    code, _, err = run(capsys, "GoPro", source, tmp_path / "out")
    assert code == 2 and "holds no GoPro frames" in err


def test_a_damaged_image_fails_the_check_and_nothing_is_kept(tmp_path: Path, capsys) -> None:
    files = {f"DIV2K_valid_HR/{n:04d}.png": png(seed=n) for n in range(801, 804)}
    files["DIV2K_valid_HR/0802.png"] = png()[:40]  # truncated
    source = make_zip(tmp_path / "v.zip", files)
    code, _, err = run(capsys, "DIV2K", source, tmp_path / "out", "--partial")
    assert code == 1 and "DIV2K valid HR failed its check" in err and "0802.png" in err
    assert "Nothing was moved into" in err
    assert list((tmp_path / "out").iterdir()) == []  # the staging folder is gone too


def test_an_occupied_destination_is_refused_unless_overwrite(tmp_path: Path, capsys) -> None:
    files = {f"DIV2K_valid_HR/{n:04d}.png": png(seed=n) for n in (801, 802)}
    source = make_zip(tmp_path / "v.zip", files)
    old = tmp_path / "out" / "DIV2K_valid_HR" / "stale.png"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"old")
    code, _, err = run(capsys, "DIV2K", source, tmp_path / "out", "--partial")
    assert code == 2 and "DIV2K_valid_HR (1 file(s)) already hold(s) files" in err
    assert old.exists()
    code, _, _ = run(capsys, "DIV2K", source, tmp_path / "out", "--partial", "--overwrite")
    assert code == 0 and not old.exists()
    assert sorted(p.name for p in old.parent.iterdir()) == ["0801.png", "0802.png"]


# ---- GoPro ------------------------------------------------------------------------------


def gopro_files(sharp_missing: bool = False) -> dict[str, bytes]:
    files = {}
    layout = {"train": {"GOPR0372_07_00": 2}, "test": {"GOPR0384_11_00": 1}}
    for split, sequences in layout.items():
        for sequence, frames in sequences.items():
            for frame in range(1, frames + 1):
                for seed, kind in enumerate(("blur", "blur_gamma", "sharp")):
                    name = f"GOPRO_Large/{split}/{sequence}/{kind}/{frame:06d}.png"
                    files[name] = png(seed=seed * 10 + frame)
    if sharp_missing:
        del files["GOPRO_Large/train/GOPR0372_07_00/sharp/000002.png"]
    return files


@pytest.fixture
def small_gopro(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(official_sets, "GOPRO_SPLITS", {"train": (2, 1), "test": (1, 1)})
    monkeypatch.setattr(official_sets, "GOPRO_SIZE", (6, 5))


@pytest.mark.parametrize("variant", ["blur", "blur_gamma"])
def test_gopro_variants_become_input_and_sharp_target(
    tmp_path: Path, capsys, small_gopro, variant: str
) -> None:
    files = gopro_files()
    source = make_folder(tmp_path / "extracted", files)  # an extracted archive
    code, out, _ = run(capsys, "GoPro", source, tmp_path / "GoPro", "--variant", variant)
    assert code == 0
    train = tmp_path / "GoPro" / "train"
    names = ["GOPR0372_07_00-000001.png", "GOPR0372_07_00-000002.png"]
    assert sorted(p.name for p in (train / "input").iterdir()) == names
    frame = "GOPRO_Large/train/GOPR0372_07_00/{}/000002.png"
    assert (train / "input" / names[1]).read_bytes() == files[frame.format(variant)]
    assert (train / "target" / names[1]).read_bytes() == files[frame.format("sharp")]
    assert out.splitlines() == [
        f"GoPro train ({variant}): 2 pairs (input/ + target/, paired by name) from 1 sequence,"
        f" 5x6 (w x h) -> {tmp_path}/GoPro/train",
        f"GoPro test ({variant}): 1 pair (input/ + target/, paired by name) from 1 sequence,"
        f" 5x6 (w x h) -> {tmp_path}/GoPro/test",
    ]


def test_gopro_refuses_missing_frames_splits_and_sizes(
    tmp_path: Path, capsys, small_gopro, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(
        capsys, "GoPro", make_zip(tmp_path / "g.zip", gopro_files(True)), tmp_path / "o"
    )
    assert code == 2 and "1 frame(s) have no partner" in err
    assert "GOPR0372_07_00/blur/000002.png" in err
    only_train = {k: v for k, v in gopro_files().items() if "/test/" not in k}
    code, _, err = run(capsys, "GoPro", make_zip(tmp_path / "t.zip", only_train), tmp_path / "o")
    assert code == 2 and "has no GoPro test/ sequences" in err
    monkeypatch.setattr(official_sets, "GOPRO_SIZE", (720, 1280))
    code, _, err = run(capsys, "GoPro", make_zip(tmp_path / "s.zip", gopro_files()), tmp_path / "o")
    assert code == 1 and "2 image(s) are not 1280x720" in err


# ---- input/ + target/ sets ------------------------------------------------------------


def rain_zip(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    files = {}
    for i in (1, 2, 10):  # names differ between input and target: paired in sorted order
        files[f"test/Test100/input/rain-{i}.png"] = png(seed=i)
        files[f"test/Test100/target/norain-{i}.png"] = png(seed=100 + i)
    for i in (1, 2):
        files[f"test/Rain100L/input/{i}.jpg"] = png(seed=200 + i)
        files[f"test/Rain100L/target/{i}.png"] = png(seed=300 + i)
    return make_zip(tmp_path / "test.zip", files), files


def test_rain_sets_are_found_by_name_and_paired_like_the_official_loaders(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(official_sets.RAIN_COUNTS, "Test100", 3)
    monkeypatch.setitem(official_sets.RAIN_COUNTS, "Rain100L", 2)
    source, files = rain_zip(tmp_path)
    code, out, err = run(capsys, "Test100", source, tmp_path / "Test100")
    assert code == 0 and "Test100: 3 pairs (input/ + target/, paired by name)" in out
    assert "each input renamed to its target's name" in err
    for i in (1, 2, 10):
        target = tmp_path / "Test100" / "target" / f"norain-{i}.png"
        assert (tmp_path / "Test100" / "input" / f"norain-{i}.png").read_bytes() == files[
            f"test/Test100/input/rain-{i}.png"
        ]
        assert target.read_bytes() == files[f"test/Test100/target/norain-{i}.png"]
    code, out, _ = run(capsys, "Rain100L", source, tmp_path / "Rain100L")
    assert code == 0 and (tmp_path / "Rain100L" / "input" / "1.jpg").is_file()
    code, _, err = run(capsys, "Rain100H", source, tmp_path / "Rain100H")
    assert (
        code == 2
        and "input/ + target/ folders of other sets" in err
        and "none named Rain100H" in err
    )


def test_a_lone_folder_is_taken_unless_it_is_named_after_another_set(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(official_sets.RAIN_COUNTS, "Rain100H", 2)
    _, files = rain_zip(tmp_path)
    lone = make_folder(tmp_path / "mine", {k: v for k, v in files.items() if "Rain100L" in k})
    for source in (lone, lone / "test", lone / "test" / "Rain100L"):
        code, _, err = run(capsys, "Rain100H", source, tmp_path / "wrong")
        assert code == 2 and "none named Rain100H" in err
    (lone / "test" / "Rain100L").rename(lone / "test" / "heavy")
    code, out, _ = run(capsys, "Rain100H", lone, tmp_path / "Rain100H")
    assert code == 0 and "Rain100H: 2 pairs" in out


def test_rain_counts_and_unpaired_files_are_refused(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _ = rain_zip(tmp_path)
    code, _, err = run(capsys, "Test100", source, tmp_path / "o")
    assert code == 2 and "holds 3 pairs, the official set 100" in err
    files = {"Rain13K/input/1.png": png(), "Rain13K/input/2.png": png()}
    files |= {
        "Rain13K/target/1.png": png(),
        "Rain13K/target/3.png": png(),
        "Rain13K/target/4.png": png(),
    }
    code, _, err = run(capsys, "Rain13K", make_zip(tmp_path / "r.zip", files), tmp_path / "o")
    assert code == 2 and "3 have no partner of the same name: input/2, target/3, target/4" in err


# ---- SIDD -------------------------------------------------------------------------------

SCENES = ("0001_001_S6_00100_00060_3200_L", "0002_001_S6_00100_00060_3200_N")


def sidd_files() -> dict[str, bytes]:
    files = {"SIDD_Medium_Srgb/ReadMe_sRGB.txt": b"320 image pairs"}
    for s, scene in enumerate(SCENES):
        number = scene[:4]
        for frame in ("010", "011"):
            seed = 10 * s + int(frame)
            for kind, shift in (("NOISY", 0), ("GT", 1000)):
                name = f"SIDD_Medium_Srgb/Data/{scene}/{number}_{kind}_SRGB_{frame}.PNG"
                files[name] = png(20, 24, seed + shift)
    return files


@pytest.fixture
def small_sidd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(official_sets, "SIDD_PAIRS", 4)
    monkeypatch.setattr(official_sets, "SIDD_SCENES", 2)


def locate(patch: np.ndarray, image: np.ndarray) -> list[tuple[int, int]]:
    size = patch.shape[0]
    return [
        (r, c)
        for r in range(image.shape[0] - size + 1)
        for c in range(image.shape[1] - size + 1)
        if np.array_equal(image[r : r + size, c : c + size], patch)
    ]


def test_sidd_pairs_are_cut_into_matching_patches_as_the_official_script(
    tmp_path: Path, capsys, small_sidd
) -> None:
    files = sidd_files()
    source = make_zip(tmp_path / "SIDD_Medium_Srgb.zip", files)
    options = ("--patch-size", 8, "--patches-per-image", 3, "--seed", 1, "--workers", 0)
    code, out, _ = run(capsys, "SIDD", source, tmp_path / "a", *options)
    assert code == 0
    assert out.strip() == (
        "SIDD-Medium sRGB patches: 12 pairs (input/ + target/, paired by name) from 4 image "
        f"pairs, 8x8 (w x h) -> {tmp_path}/a"
    )
    names = sorted(p.name for p in (tmp_path / "a" / "input").iterdir())
    assert names[:3] == ["0001_SRGB_010_1.png", "0001_SRGB_010_2.png", "0001_SRGB_010_3.png"]
    noisy = pixels_of(files, f"SIDD_Medium_Srgb/Data/{SCENES[1]}/0002_NOISY_SRGB_011.PNG")
    gt = pixels_of(files, f"SIDD_Medium_Srgb/Data/{SCENES[1]}/0002_GT_SRGB_011.PNG")
    for k in (1, 2, 3):
        (corner,) = locate(pixels(tmp_path / "a" / "input" / f"0002_SRGB_011_{k}.png"), noisy)
        assert corner[0] < 20 - 8 and corner[1] < 24 - 8  # numpy's randint(0, H - size)
        target = pixels(tmp_path / "a" / "target" / f"0002_SRGB_011_{k}.png")
        np.testing.assert_array_equal(
            target, gt[corner[0] : corner[0] + 8, corner[1] : corner[1] + 8]
        )
    # seeded: the same patches again, also when several processes cut them
    code, _, _ = run(capsys, "SIDD", source, tmp_path / "b", *options[:-1], 2)
    assert code == 0
    for name in names:
        for side in ("input", "target"):
            assert np.array_equal(
                pixels(tmp_path / "a" / side / name), pixels(tmp_path / "b" / side / name)
            )


def pixels_of(files: dict[str, bytes], name: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(files[name])))


def test_sidd_without_ground_truth_or_complete_scenes_is_refused(
    tmp_path: Path, capsys, small_sidd, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = sidd_files()
    del files[f"SIDD_Medium_Srgb/Data/{SCENES[0]}/0001_GT_SRGB_011.PNG"]
    code, _, err = run(capsys, "SIDD", make_zip(tmp_path / "s.zip", files), tmp_path / "o")
    assert code == 2 and "1 noisy SIDD image(s) have no ground truth" in err
    assert "0001_GT_SRGB_011.PNG" in err
    monkeypatch.setattr(official_sets, "SIDD_PAIRS", 320)
    code, _, err = run(capsys, "SIDD", make_zip(tmp_path / "f.zip", sidd_files()), tmp_path / "o")
    assert code == 2 and "4 pairs in 2 scene folders, SIDD-Medium sRGB has 320 in 2" in err


def save_mats(folder: Path, shape: tuple[int, ...], keys=None) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, shape, dtype=np.uint8)
    gt = rng.integers(0, 256, shape, dtype=np.uint8)
    keys = keys or ("ValidationNoisyBlocksSrgb", "ValidationGtBlocksSrgb")
    folder.mkdir(parents=True, exist_ok=True)
    for key, array in zip(keys, (noisy, gt), strict=True):
        scipy.io.savemat(folder / f"{key}.mat", {key: array})
    return noisy, gt


def test_sidd_validation_blocks_become_png_pairs(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(official_sets, "SIDD_VAL_SHAPE", (2, 3, 8, 8, 3))
    noisy, gt = save_mats(tmp_path / "val", (2, 3, 8, 8, 3))
    source = tmp_path / "val" / "ValidationNoisyBlocksSrgb.mat"  # one file: its folder is read
    code, out, _ = run(capsys, "SIDD_val", source, tmp_path / "SIDD_val")
    assert code == 0 and "SIDD validation blocks: 6 pairs" in out and "from 2 images" in out
    names = sorted(p.name for p in (tmp_path / "SIDD_val" / "input").iterdir())
    assert names == [
        "0001_01.png",
        "0001_02.png",
        "0001_03.png",
        "0002_01.png",
        "0002_02.png",
        "0002_03.png",
    ]
    np.testing.assert_array_equal(
        pixels(tmp_path / "SIDD_val" / "input" / "0002_03.png"), noisy[1, 2]
    )
    np.testing.assert_array_equal(
        pixels(tmp_path / "SIDD_val" / "target" / "0001_02.png"), gt[0, 1]
    )


def test_sidd_validation_files_missing_or_of_another_shape_are_refused(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_mats(tmp_path / "val", (2, 3, 8, 8, 3))
    (tmp_path / "val" / "ValidationGtBlocksSrgb.mat").unlink()
    code, _, err = run(capsys, "SIDD_val", tmp_path / "val", tmp_path / "o")
    assert code == 2 and "lacks ValidationGtBlocksSrgb.mat" in err
    save_mats(tmp_path / "val", (2, 3, 8, 8, 3))
    code, _, err = run(capsys, "SIDD_val", tmp_path / "val", tmp_path / "o")
    assert code == 1 and "ValidationNoisyBlocksSrgb is uint8 [2, 3, 8, 8, 3]" in err
    assert "the official file is uint8 [40, 32, 256, 256, 3]" in err
    monkeypatch.setattr(official_sets, "SIDD_VAL_SHAPE", (2, 3, 8, 8, 3))
    save_mats(tmp_path / "val", (2, 3, 8, 8, 3), keys=("x", "ValidationGtBlocksSrgb"))
    (tmp_path / "val" / "x.mat").rename(tmp_path / "val" / "ValidationNoisyBlocksSrgb.mat")
    code, _, err = run(capsys, "SIDD_val", tmp_path / "val", tmp_path / "o")
    assert code == 1 and "holds no array 'ValidationNoisyBlocksSrgb' (it holds x)" in err
