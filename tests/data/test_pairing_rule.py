"""The one pairing rule of degraded/clean folders (``data.pairs.pair_folders``), in every place
that pairs folders: ``<set>/input/`` + ``target/`` or ``groundtruth/``, GoPro's ``blur/`` +
``sharp/`` (one sequence or many), ``data.train_lq_source`` + ``data.train_source``, and the
data module's training and evaluation sets.

Pairs go by file name (stem); sorted order only when no name matches at all (said once); a
partial overlap is refused naming the unmatched files -- never a silent wrong pairing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data.datamodule import RestorationDataModule
from data.degradations import GaussianNoise
from data.pairs import discover_pairs, has_paired_layout, pair_folders
from data.sources import PairedFolders


def _save(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 14, 3), value, np.uint8)).save(path)


def _fill(folder: Path, stems: list[str], base: int) -> None:
    for i, stem in enumerate(stems):
        _save(folder / f"{stem}.png", base + i)


# (lq stems, gt stems): what the rule does with them.
PARTIAL = {
    "reported: same count, one name differs": (["p0", "p1", "p3"], ["p0", "p1", "p2"]),
    "one clean image missing": (["p0", "p1", "p2"], ["p0", "p1"]),
    "one degraded image missing": (["p0", "p1"], ["p0", "p1", "p2"]),
    "extra files on both sides": (["a", "b", "x1", "x2"], ["a", "b", "y1"]),
}
BY_NAME = (["c", "a", "b"], ["b", "c", "a"])
NO_NAME_IN_COMMON = (["rain-1", "rain-2", "rain-3"], ["norain-1", "norain-2", "norain-3"])


def _layouts(tmp_path: Path, lq: list[str], gt: list[str]) -> dict[str, Callable[[], object]]:
    """Every way a user hands the project two folders to pair, built from the same stems."""
    _fill(tmp_path / "IT" / "input", lq, 10)
    _fill(tmp_path / "IT" / "target", gt, 100)
    _fill(tmp_path / "SIDD" / "input", lq, 10)
    _fill(tmp_path / "SIDD" / "groundtruth", gt, 100)
    _fill(tmp_path / "seq" / "blur", lq, 10)
    _fill(tmp_path / "seq" / "sharp", gt, 100)
    for sequence in ("S1", "S2"):
        _fill(tmp_path / "GoPro" / sequence / "blur", lq, 10)
        _fill(tmp_path / "GoPro" / sequence / "sharp", gt, 100)
    _fill(tmp_path / "lq", lq, 10)
    _fill(tmp_path / "gt", gt, 100)
    return {
        "input/ + target/": lambda: discover_pairs(tmp_path / "IT"),
        "input/ + groundtruth/": lambda: discover_pairs(tmp_path / "SIDD"),
        "blur/ + sharp/": lambda: discover_pairs(tmp_path / "seq"),
        "GoPro sequences": lambda: discover_pairs(tmp_path / "GoPro"),
        "train_lq_source + train_source": lambda: PairedFolders(tmp_path / "lq", tmp_path / "gt"),
        "pair_folders": lambda: pair_folders(tmp_path / "lq", tmp_path / "gt"),
    }


LAYOUTS = [
    "input/ + target/",
    "input/ + groundtruth/",
    "blur/ + sharp/",
    "GoPro sequences",
    "train_lq_source + train_source",
    "pair_folders",
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", list(PARTIAL))
def test_a_partial_overlap_of_names_is_refused_naming_the_unmatched_files(
    tmp_path: Path, case: str, layout: str
) -> None:
    lq, gt = PARTIAL[case]
    build = _layouts(tmp_path, lq, gt)[layout]
    with pytest.raises(ValueError) as refused:
        build()
    message = str(refused.value)
    for stem in sorted(set(lq) - set(gt)) + sorted(set(gt) - set(lq)):
        assert f"{stem}.png" in message, message
    for stem in set(lq) & set(gt):
        assert f" {stem}.png" not in message, message  # matched files are not blamed
    assert "by file name" in message


@pytest.mark.parametrize("layout", LAYOUTS)
def test_matching_names_pair_by_name_whatever_the_order(tmp_path: Path, layout: str) -> None:
    pairs = _layouts(tmp_path, *BY_NAME)[layout]()
    lq_paths, gt_paths = _paths(pairs)
    assert [p.stem for p in lq_paths] == [p.stem for p in gt_paths]
    assert len(lq_paths) == 3 * (2 if layout == "GoPro sequences" else 1)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_no_name_in_common_pairs_in_sorted_order_and_says_so_once(
    tmp_path: Path, layout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    build = _layouts(tmp_path, *NO_NAME_IN_COMMON)[layout]
    lq_paths, gt_paths = _paths(build())
    assert [p.stem for p in lq_paths[:3]] == ["rain-1", "rain-2", "rain-3"]
    assert [p.stem for p in gt_paths[:3]] == ["norain-1", "norain-2", "norain-3"]
    _paths(build())  # a second look at the same folders says nothing new
    notes = [line for line in capsys.readouterr().err.splitlines() if "sorted" in line]
    folders = 2 if layout == "GoPro sequences" else 1
    assert len(notes) == folders, notes
    assert "no file name in common" in notes[0]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_no_name_in_common_and_different_counts_is_refused(tmp_path: Path, layout: str) -> None:
    build = _layouts(tmp_path, ["rain-1", "rain-2"], ["norain-1", "norain-2", "norain-3"])[layout]
    with pytest.raises(ValueError, match=r"no file name in common.*\(2 vs 3\)"):
        build()


def test_two_files_with_one_name_in_a_folder_are_refused(tmp_path: Path) -> None:
    _fill(tmp_path / "S" / "input", ["a", "b"], 0)
    _save(tmp_path / "S" / "input" / "a.jpg", 5)
    _fill(tmp_path / "S" / "target", ["a", "b"], 0)
    with pytest.raises(ValueError, match=r"a\.jpg.*a\.png|a\.png.*a\.jpg"):
        discover_pairs(tmp_path / "S")


def test_groundtruth_is_a_target_folder_and_two_target_folders_are_ambiguous(
    tmp_path: Path,
) -> None:
    _fill(tmp_path / "SIDD" / "input", ["0", "1"], 0)
    _fill(tmp_path / "SIDD" / "groundtruth", ["0", "1"], 50)
    assert has_paired_layout(tmp_path / "SIDD")
    lq, gt = discover_pairs(tmp_path / "SIDD").load_pair(1)
    assert lq[0, 0, 0] == 1 and gt[0, 0, 0] == 51
    _fill(tmp_path / "SIDD" / "target", ["0", "1"], 90)
    with pytest.raises(ValueError, match=r"both .*target/ and .*groundtruth/"):
        discover_pairs(tmp_path / "SIDD")


@pytest.mark.parametrize("where", ["training", "evaluation"])
def test_the_data_module_refuses_a_partial_overlap_in_training_and_evaluation(
    tmp_path: Path, where: str
) -> None:
    lq, gt = PARTIAL["reported: same count, one name differs"]
    _fill(tmp_path / "bench" / "Rain" / "input", lq, 10)
    _fill(tmp_path / "bench" / "Rain" / "target", gt, 100)
    module = RestorationDataModule(
        degradation=GaussianNoise(0.0),
        train_source=str(tmp_path / "bench" / "Rain") if where == "training" else "embedded",
        val_sets=("Rain",) if where == "evaluation" else ("embedded",),
        benchmark_root=str(tmp_path / "bench"),
        patch_size=8,
        batch_size=2,
        samples_per_epoch=4,
        num_workers=0,
        paired_sets=where == "evaluation",
    )
    with pytest.raises(ValueError, match=r"p3\.png.*p2\.png"):
        module.setup("fit")


def _paths(pairs: object) -> tuple[list[Path], list[Path]]:
    if isinstance(pairs, tuple):  # pair_folders: (lq paths, gt paths, names)
        return list(pairs[0]), list(pairs[1])
    return [pairs.paths(i)[0] for i in range(len(pairs))], [
        pairs.paths(i)[1] for i in range(len(pairs))
    ]
