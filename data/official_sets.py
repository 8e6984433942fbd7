"""The official data sets as their archives ship them, and what ``python -m data.prepare`` makes
of each: which files of a SOURCE belong to the set, where each goes under DEST, and how many the
official release holds.

A planner reads only the list of files (``data.archives.Source.files``), so an unknown or
incomplete archive is refused, naming what is missing, before anything is written. Layouts
recognized (anywhere inside the archive or folder, so an extra top folder does not matter):

* **DIV2K** (``DIV2K_train_HR.zip``, ``DIV2K_valid_HR.zip``, or both extracted in one folder):
  ``<any>/NNNN.png``; 0001–0800 are the training split (``DEST/DIV2K_train_HR/``), 0801–0900
  the validation split (``DEST/DIV2K_valid_HR/``). Each split found must be complete.
* **GoPro** (``GOPRO_Large.zip``): ``<any>/train|test/<sequence>/blur|blur_gamma|sharp/<frame>``;
  ``--variant`` (``blur``, default, as MPRNet's published results; or ``blur_gamma``) becomes
  ``DEST/train|test/input/<sequence>-<frame>``, ``sharp`` becomes ``target/`` (MPRNet's names).
  2,103 training pairs in 22 sequences, 1,111 test pairs in 11 sequences, all 1280x720.
* **Rain13K, Rain100L, Rain100H, Test100, Test1200, Test2800** (MPRNet's ``train.zip`` and
  ``test.zip``, already ``input/`` + ``target/``): the ``<any>/<Set>/input/`` + ``target/`` of the
  set named (Rain13K also ``train/input/`` + ``target/``), or the only such pair of folders in
  SOURCE unless it is named after another set. Files pair by name; where the names differ but
  the counts agree they pair in sorted order, as the official loaders do, and each input is
  renamed to its target's name (so strict pairing by name works afterwards). 13,712 / 100 /
  100 / 100 / 1,200 / 2,800 pairs.
* **SIDD** (``SIDD_Medium_Srgb.zip``): ``<any>/<scene>/*NOISY*.PNG`` with the ``*GT*`` file of the
  same name in the same folder: 320 pairs in 160 scene folders, cut into random patches
  (``data.sidd``).
* **SIDD_val** (``ValidationNoisyBlocksSrgb.mat`` + ``ValidationGtBlocksSrgb.mat``, in a folder
  or archive; or one of the two files, the other beside it): 40 x 32 blocks of 256x256, always
  the whole set (``--partial`` does not apply).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from panet.imaging.io import IMAGE_EXTENSIONS

#: At most this many missing or unpaired names are listed; a count says how many more.
SHOWN_NAMES = 10


class PrepareError(ValueError):
    """An unknown or incomplete data set, a refused destination or a failed check."""


@dataclass(frozen=True)
class Options:
    """What the command line chooses (see ``data.prepare``)."""

    variant: str = "blur"
    partial: bool = False
    patch_size: int = 256
    patches_per_image: int = 300
    seed: int = 0


@dataclass(frozen=True)
class Output:
    """One prepared folder under DEST and what its check expects.

    Attributes:
        folder: relative to DEST ("" is DEST itself).
        paired: ``input/`` + ``target/`` (else a folder of images).
        label: how the summary names it.
        count: images (pairs) the folder must hold; None: whatever was written.
        size: ``(height, width)`` every image must have, when the set fixes it.
        groups: sequences or scenes the images come from (the summary mentions them).
    """

    folder: str
    paired: bool
    label: str
    count: int | None
    size: tuple[int, int] | None = None
    groups: str | None = None

    def entries(self) -> list[str]:
        """The paths under DEST this output creates."""
        names = ["input", "target"] if self.paired else [""]
        return [str(PurePosixPath(self.folder, n)) if n else self.folder for n in names]


@dataclass(frozen=True)
class SiddPair:
    """One SIDD-Medium image pair and the stem of its patches' names."""

    noisy: str
    gt: str
    name: str


@dataclass
class Plan:
    """What to write: files copied as they are (source file -> path under DEST), SIDD pairs to
    cut into patches, the SIDD validation ``.mat`` files (noisy, gt) to unpack and the shape
    their arrays must have."""

    outputs: list[Output]
    copies: dict[str, str] = field(default_factory=dict)
    sidd_pairs: list[SiddPair] = field(default_factory=list)
    mat_files: tuple[str, str] | None = None
    mat_shape: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)


def listed(names: Sequence[str]) -> str:
    """``a, b, c`` for at most ``SHOWN_NAMES`` names, then ``(and N more)``."""
    shown = ", ".join(names[:SHOWN_NAMES])
    more = len(names) - SHOWN_NAMES
    return shown + (f" (and {more} more)" if more > 0 else "")


def describe(files: Sequence[str]) -> str:
    """What a SOURCE holds, for messages: its top-level entries with their file counts."""
    counts: dict[str, int] = defaultdict(int)
    for f in files:
        head, _, rest = f.partition("/")
        counts[head + ("/" if rest else "")] += 1
    if not counts:
        return "no files at all"
    return listed(
        [f"{name} ({n} file(s))" if name.endswith("/") else name for name, n in counts.items()]
    )


def plural(count: int, word: str) -> str:
    """``1 pair``, ``2 pairs``."""
    return f"{count} {word}" + ("" if count == 1 else "s")


def is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS


def natural_key(text: str) -> list[int | str]:
    """Sort key putting ``2`` before ``10`` (the official SIDD script's ``natsorted``)."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text)]


def incomplete(label: str, what: str, missing: Sequence[str], total: int) -> PrepareError:
    return PrepareError(
        f"{label} is incomplete: {len(missing)} of the official {total} {what} are missing: "
        f"{listed(missing)}. Download the whole archive again, or pass --partial to prepare "
        "only what is there"
    )


def unique(items: Iterable[tuple[str, str]], label: str) -> dict[str, str]:
    """``key -> file`` from (key, file) pairs; a key held by two files is refused."""
    found: dict[str, list[str]] = defaultdict(list)
    for key, member in items:
        found[key].append(member)
    twice = [f"{k} ({' and '.join(v)})" for k, v in found.items() if len(v) > 1]
    if twice:
        raise PrepareError(f"{label} holds the same file more than once: {listed(twice)}")
    return {k: v[0] for k, v in found.items()}


# ---- DIV2K ------------------------------------------------------------------------------

#: (split, first number, last number) of DIV2K's HR images.
DIV2K_SPLITS = (("train", 1, 800), ("valid", 801, 900))
_DIV2K_NAME = re.compile(r"(\d{4})\.png", re.IGNORECASE)


def plan_div2k(files: Sequence[str], options: Options, label: str) -> Plan:
    matches = ((_DIV2K_NAME.fullmatch(PurePosixPath(f).name), f) for f in files)
    images = unique(((f"{int(m.group(1)):04d}", f) for m, f in matches if m), label)
    plan = Plan(outputs=[])
    for split, first, last in DIV2K_SPLITS:
        numbers = [f"{n:04d}" for n in range(first, last + 1)]
        present = [n for n in numbers if n in images]
        if not present:
            continue
        folder = f"DIV2K_{split}_HR"
        missing = [f"{n}.png" for n in numbers if n not in images]
        if missing and not options.partial:
            raise incomplete(f"DIV2K {split} HR in {label}", "images", missing, len(numbers))
        plan.copies.update({images[n]: f"{folder}/{n}.png" for n in present})
        count = len(present) if options.partial else len(numbers)
        plan.outputs.append(Output(folder, False, f"DIV2K {split} HR", count))
    if not plan.outputs:
        raise PrepareError(
            f"{label} holds no DIV2K HR images (DIV2K_train_HR/0001.png ... 0800.png, "
            f"DIV2K_valid_HR/0801.png ... 0900.png); it holds {describe(files)}"
        )
    return plan


# ---- GoPro ------------------------------------------------------------------------------

#: Pairs and sequences of GOPRO_Large's splits.
GOPRO_SPLITS = {"train": (2103, 22), "test": (1111, 11)}
GOPRO_SIZE = (720, 1280)
GOPRO_VARIANTS = ("blur", "blur_gamma")
_GOPRO_KINDS = ("blur", "blur_gamma", "sharp")


def plan_gopro(files: Sequence[str], options: Options, label: str) -> Plan:
    if options.variant not in GOPRO_VARIANTS:
        raise PrepareError(f"--variant must be one of {GOPRO_VARIANTS}, got {options.variant!r}")
    frames: dict[tuple[str, str], dict[str, dict[str, str]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    keyed = []
    for f in files:
        parts = f.split("/")
        if len(parts) < 4 or not is_image_name(parts[-1]):
            continue
        split, sequence, kind, frame = parts[-4].lower(), parts[-3], parts[-2].lower(), parts[-1]
        if split in GOPRO_SPLITS and kind in _GOPRO_KINDS:
            keyed.append((f"{split}/{sequence}/{kind}/{frame}", f))
            frames[(split, sequence)][kind][frame] = f
    unique(keyed, label)
    if not frames:
        raise PrepareError(
            f"{label} holds no GoPro frames: expected GOPRO_Large's train/ and test/ folders "
            f"of <sequence>/blur/, blur_gamma/ and sharp/ frames; it holds {describe(files)}"
        )
    plan = Plan(outputs=[])
    for split, (total, sequences) in GOPRO_SPLITS.items():
        in_split = sorted(s for sp, s in frames if sp == split)
        if not in_split:
            if options.partial:
                continue
            raise PrepareError(
                f"{label} has no GoPro {split}/ sequences; the official archive "
                f"has train/ and test/ (or pass --partial)"
            )
        unpaired, pairs = [], 0
        for sequence in in_split:
            kinds = frames[(split, sequence)]
            inputs, targets = kinds.get(options.variant, {}), kinds.get("sharp", {})
            unpaired += [f"{sequence}/{options.variant}/{n}" for n in inputs if n not in targets]
            unpaired += [f"{sequence}/sharp/{n}" for n in targets if n not in inputs]
            for name in sorted(set(inputs) & set(targets)):
                out = f"{sequence}-{name}"
                plan.copies[inputs[name]] = f"{split}/input/{out}"
                plan.copies[targets[name]] = f"{split}/target/{out}"
                pairs += 1
        if unpaired and not options.partial:
            raise PrepareError(
                f"GoPro {split} in {label}: {len(unpaired)} frame(s) have no partner "
                f"({options.variant}/ and sharp/ must hold the same frames): {listed(unpaired)}"
                ". Download the whole archive again, or pass --partial to skip them"
            )
        if unpaired:
            plan.notes.append(f"GoPro {split}: skipped {len(unpaired)} unpaired frame(s)")
        if pairs == 0:
            raise PrepareError(
                f"GoPro {split} in {label} has no {options.variant}/ frames; the variants there: "
                f"{sorted({k for s in in_split for k in frames[(split, s)]})}"
            )
        if not options.partial and (pairs, len(in_split)) != (total, sequences):
            raise PrepareError(
                f"GoPro {split} in {label} is incomplete: {pairs} pairs in {len(in_split)} "
                f"sequences, the official set has {total} in {sequences}. Download the whole "
                "archive again, or pass --partial to prepare only what is there"
            )
        label_split = f"GoPro {split} ({options.variant})"
        groups = plural(len(in_split), "sequence")
        plan.outputs.append(Output(split, True, label_split, pairs, GOPRO_SIZE, groups))
    return plan


# ---- the sets MPRNet ships as input/ + target/ ------------------------------------------

#: Pairs of each set (MPRNet's Deraining data).
RAIN_COUNTS = {
    "Rain13K": 13712,
    "Rain100L": 100,
    "Rain100H": 100,
    "Test100": 100,
    "Test1200": 1200,
    "Test2800": 2800,
}
#: Other names of a set's folder in the archives (MPRNet's train.zip: train/input, train/target).
RAIN_ALIASES = {"Rain13K": ("rain13k", "train")}


def input_target_folders(files: Sequence[str]) -> dict[str, tuple[list[str], list[str]]]:
    """``folder -> (input files, target files)`` for every folder with both sub-folders."""
    found: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for f in files:
        parts = f.split("/")
        if len(parts) >= 2 and parts[-2].lower() in ("input", "target") and is_image_name(f):
            found["/".join(parts[:-2])][parts[-2].lower() == "target"].append(f)
    return {k: v for k, v in found.items() if v[0] and v[1]}


def choose_folder(
    name: str, folders: dict[str, tuple[list[str], list[str]]], files: Sequence[str], label: str
) -> str:
    """The folder of set ``name``: by name, by alias, or the only one there is unless that is
    named after another set (SOURCE itself, ``""``, is named by its own file or folder name)."""

    def folder_name(folder: str) -> str:
        return (PurePosixPath(folder).name or PurePosixPath(label).name.split(".")[0]).lower()

    wanted = (name.lower(), *RAIN_ALIASES.get(name, ()))
    for alias in wanted:
        named = [f for f in folders if folder_name(f) == alias]
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            raise PrepareError(f"{label} holds several {name} folders: {listed(named)}")
    others = {n.lower() for n in RAIN_COUNTS} | {a for v in RAIN_ALIASES.values() for a in v}
    if len(folders) == 1 and folder_name(next(iter(folders))) not in others - set(wanted):
        return next(iter(folders))
    if not folders:
        raise PrepareError(
            f"{label} holds no input/ + target/ folders of {name} images; it holds "
            f"{describe(files)}"
        )
    shown = listed([f"{f or '.'}/" for f in folders])
    raise PrepareError(
        f"{label} holds input/ + target/ folders of other sets ({shown}), none named {name}"
    )


def pair_files(
    inputs: list[str], targets: list[str], label: str
) -> tuple[list[tuple[str, str]], bool]:
    """``(input, target)`` file pairs: by stem, or (names differ, counts agree) in sorted
    order like the official loaders; the flag says the latter."""
    stem = lambda f: PurePosixPath(f).stem  # noqa: E731 - a local shorthand
    by_input = unique(((stem(f), f) for f in inputs), f"{label} input/")
    by_target = unique(((stem(f), f) for f in targets), f"{label} target/")
    if set(by_input) == set(by_target):
        return [(by_input[s], by_target[s]) for s in sorted(by_target)], False
    if len(inputs) == len(targets):
        name = lambda f: PurePosixPath(f).name  # noqa: E731
        return list(zip(sorted(inputs, key=name), sorted(targets, key=name), strict=True)), True
    lonely = [f"input/{s}" for s in by_input if s not in by_target]
    lonely += [f"target/{s}" for s in by_target if s not in by_input]
    raise PrepareError(
        f"{label}: input/ holds {len(inputs)} images and target/ {len(targets)}, and "
        f"{len(lonely)} have no partner of the same name: {listed(lonely)}"
    )


def plan_input_target(name: str) -> Callable[[Sequence[str], Options, str], Plan]:
    """The planner of one of the sets in ``RAIN_COUNTS``."""

    def plan(files: Sequence[str], options: Options, label: str) -> Plan:
        folders = input_target_folders(files)
        folder = choose_folder(name, folders, files, label)
        where = f"{name} in {label}" + (f" ({folder}/)" if folder else "")
        pairs, by_order = pair_files(*folders[folder], where)
        total = RAIN_COUNTS[name]
        if len(pairs) != total and not options.partial:
            raise PrepareError(
                f"{where} holds {len(pairs)} pairs, the official set {total}. Download the "
                "whole archive again, or pass --partial to prepare only what is there"
            )
        result = Plan(outputs=[Output("", True, name, len(pairs))])
        for lq, gt in pairs:
            target = PurePosixPath(gt)
            result.copies[lq] = f"input/{target.stem}{PurePosixPath(lq).suffix}"
            result.copies[gt] = f"target/{target.name}"
        if by_order:
            result.notes.append(
                f"{name}: input and target names differ, so the {len(pairs)} pairs were made in "
                "sorted order (as the official loaders do) and each input renamed to its "
                "target's name"
            )
        return result

    return plan


# ---- SIDD -------------------------------------------------------------------------------

SIDD_PAIRS, SIDD_SCENES = 320, 160
SIDD_VAL_FILES = ("ValidationNoisyBlocksSrgb.mat", "ValidationGtBlocksSrgb.mat")
#: Blocks of the validation files: 40 images x 32 blocks of 256 x 256 RGB.
SIDD_VAL_SHAPE = (40, 32, 256, 256, 3)


def plan_sidd(files: Sequence[str], options: Options, label: str) -> Plan:
    present = {f.lower(): f for f in files}
    noisy = sorted(
        (
            f
            for f in files
            if "NOISY" in PurePosixPath(f).name.upper() and f.lower().endswith(".png")
        ),
        key=natural_key,
    )
    if not noisy:
        raise PrepareError(
            f"{label} holds no SIDD noisy images (SIDD_Medium_Srgb/Data/<scene>/*_NOISY_SRGB_*.PNG "
            f"beside *_GT_SRGB_*.PNG); it holds {describe(files)}"
        )
    pairs, missing = [], []
    for f in noisy:
        path = PurePosixPath(f)
        gt_name = re.sub("noisy", "GT", path.name, flags=re.IGNORECASE)
        gt = present.get(str(path.with_name(gt_name)).lower())
        if gt is None:
            missing.append(str(path.with_name(gt_name)))
            continue
        stem = re.sub(r"_?noisy_?", "_", path.stem, flags=re.IGNORECASE).strip("_")
        pairs.append(SiddPair(f, gt, stem))
    if missing:
        raise PrepareError(
            f"{label}: {len(missing)} noisy SIDD image(s) have no ground truth: {listed(missing)}"
        )
    unique(((p.name, p.noisy) for p in pairs), label)
    scenes = {str(PurePosixPath(p.noisy).parent) for p in pairs}
    if (len(pairs), len(scenes)) != (SIDD_PAIRS, SIDD_SCENES) and not options.partial:
        raise PrepareError(
            f"SIDD in {label} is incomplete: {len(pairs)} pairs in {len(scenes)} scene folders, "
            f"SIDD-Medium sRGB has {SIDD_PAIRS} in {SIDD_SCENES}. Download the whole archive "
            "again, or pass --partial to prepare only what is there"
        )
    size = (options.patch_size, options.patch_size)
    count = len(pairs) * options.patches_per_image
    groups = plural(len(pairs), "image pair")
    output = Output("", True, "SIDD-Medium sRGB patches", count, size, groups)
    return Plan(outputs=[output], sidd_pairs=pairs)


def plan_sidd_val(files: Sequence[str], options: Options, label: str) -> Plan:
    found = []
    for name in SIDD_VAL_FILES:
        matches = [f for f in files if PurePosixPath(f).name.lower() == name.lower()]
        if len(matches) > 1:
            raise PrepareError(f"{label} holds {name} more than once: {listed(matches)}")
        found.append(matches[0] if matches else None)
    missing = [n for n, f in zip(SIDD_VAL_FILES, found, strict=True) if f is None]
    if missing:
        raise PrepareError(
            f"{label} lacks {' and '.join(missing)} (the SIDD validation blocks need both "
            f"{SIDD_VAL_FILES[0]} and {SIDD_VAL_FILES[1]}); it holds {describe(files)}"
        )
    blocks, size = SIDD_VAL_SHAPE[0] * SIDD_VAL_SHAPE[1], SIDD_VAL_SHAPE[2:4]
    output = Output(
        "", True, "SIDD validation blocks", blocks, size, plural(SIDD_VAL_SHAPE[0], "image")
    )
    return Plan(outputs=[output], mat_files=(found[0], found[1]), mat_shape=SIDD_VAL_SHAPE)


@dataclass(frozen=True)
class OfficialSet:
    name: str
    what: str
    plan: Callable[[Sequence[str], Options, str], Plan]


OFFICIAL_SETS: dict[str, OfficialSet] = {
    s.name.lower(): s
    for s in (
        OfficialSet("DIV2K", "DIV2K HR images (train 0001-0800, valid 0801-0900)", plan_div2k),
        OfficialSet("GoPro", "GOPRO_Large train/test blur (or blur_gamma) + sharp", plan_gopro),
        *(
            OfficialSet(name, f"{name} input/ + target/ pairs", plan_input_target(name))
            for name in RAIN_COUNTS
        ),
        OfficialSet("SIDD", "SIDD-Medium sRGB pairs cut into patches", plan_sidd),
        OfficialSet("SIDD_val", "SIDD validation blocks (.mat) as PNG pairs", plan_sidd_val),
    )
}
