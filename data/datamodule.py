"""The LightningDataModule: training patches, and whole images per named validation/test set.

Batches are dicts `{lq: [B,C,h,w], gt: [B,C,s*h,s*w], name: list[str]}`, float32 on the 0–255
scale, C = 3 (RGB) or 1 (grey / Y). Validation and test loaders have batch size 1 (whole images
of different sizes), one loader per set, in the order of `val_set_names` / `test_set_names`.

Reproducibility: every training sample is a pure function of (seed, global sample index)
(`data.datasets.TrainPatches`), and `data.samplers.ResumableSampler` advances the indices each
epoch, so a run gives the same batches with any number of DataLoader workers, and a run resumed
from last.ckpt at any step continues with the very next batch (the loader's position is saved).
Evaluation inputs are a pure function of (image name, degradation).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from data.cache import MappedImages
from data.datasets import (
    Colour,
    Degradation,
    EvalImages,
    Source,
    TrainPatches,
    check_colour,
)
from data.pairs import discover_pairs, has_paired_layout, paired_set
from data.samplers import ResumableLoader, batches_consumed, eval_sampler, train_sampler
from data.sources import (
    EMBEDDED_NAME,
    ImageFiles,
    ImageFolder,
    PairedFolders,
    benchmark_set,
    embedded_default,
)
from data.workers import resolve_num_workers


class RestorationDataModule(pl.LightningDataModule):
    """Training, validation and test data for one restoration task.

    Args:
        degradation: makes the LQ input from a clean [C,H,W] 0–255 image and a generator;
            its `scale` is 1 for restoration and s for super-resolution. Not applied to paired
            folders, whose LQ images are already degraded (its scale must match theirs).
        train_source: "embedded" (the training part of the photographs shipped with
            scikit-image, no download), a folder of clean training images (e.g.
            DIV2K_train_HR), or a folder of pairs in a `data.pairs` layout (GoPro/train).
        train_lq_source: for real degradations, a folder of degraded images with the same file
            names as `train_source`; None to synthesize the LQ with `degradation`.
        val_sets: validation set names, each a folder (or folder/HR) under `benchmark_root`;
            "embedded" means fixed crops (up to 2 x 2 per photograph of `embedded_crop` px,
            `data.datasets.crop_grid`) of the held-out embedded photographs, which training on
            "embedded" never sees.
        test_sets: test set names, resolved like `val_sets`.
        benchmark_root: folder that holds the benchmark sets; needed unless every set is
            "embedded".
        patch_size: LQ training patch side (48 in the paper; the GT patch is patch_size*scale).
        batch_size: training batch size (16 in the paper), per device.
        samples_per_epoch: training samples per epoch over all devices (the authors' "epoch"
            was 1000 iterations of batch 16 = 16000 samples).
        num_workers: DataLoader worker processes per training process (results do not depend
            on it); "auto": the CPUs this process may use minus one (`data.workers`).
        seed: base seed of the training samples.
        colour: "rgb" or "y" (Y channel rounded to uint8, the CAR protocol).
        embedded_crop: crop side (GT pixels) of the "embedded" validation/test set.
        benchmark_crop: None to score benchmark sets on whole images (the papers' protocol);
            else each benchmark image gives the same fixed crops as "embedded" (up to 2 x 2 of
            this side, named "{stem}_r{row}c{col}"): a quick, held-out check on real
            benchmark content where whole-image attention would take minutes per image on a
            CPU. Clean sets only (paired sets keep their whole pairs).
        cache_train_images: decode a training folder once into a uint8 memory map under
            `cache_dir` (`data.cache.MappedImages`), shared by all workers and processes,
            instead of decoding a file for every sample; the embedded photographs are always
            kept in memory.
        cache_dir: where that decoded cache lives (needed with `cache_train_images`).
        paired_sets: validation/test sets other than "embedded" are real pairs
            (`data.pairs`): `<set>/input/` + `<set>/target/` or `groundtruth/` (or GoPro's
            `<sequence>/blur|sharp/`) under `benchmark_root`. (A training folder in one of
            those layouts is always read as pairs.)
    """

    def __init__(
        self,
        *,
        degradation: Degradation,
        train_source: str = EMBEDDED_NAME,
        train_lq_source: str | None = None,
        val_sets: str | Sequence[str] = (EMBEDDED_NAME,),
        test_sets: str | Sequence[str] = (),
        benchmark_root: str | None = None,
        patch_size: int = 48,
        batch_size: int = 16,
        samples_per_epoch: int = 16000,
        num_workers: int | str = "auto",
        seed: int = 0,
        colour: Colour = "rgb",
        embedded_crop: int = 128,
        benchmark_crop: int | None = None,
        cache_train_images: bool = False,
        cache_dir: str | None = None,
        paired_sets: bool = False,
    ) -> None:
        super().__init__()
        check_colour(colour)
        if batch_size < 1 or patch_size < 1 or embedded_crop < 1:
            raise ValueError(
                "batch_size, patch_size and embedded_crop must be positive; got "
                f"{batch_size}, {patch_size}, {embedded_crop}"
            )
        if benchmark_crop is not None and (
            isinstance(benchmark_crop, bool)
            or not isinstance(benchmark_crop, int)
            or benchmark_crop < 1
        ):
            raise ValueError(
                f"benchmark_crop must be a positive crop side or null (whole images); got "
                f"{benchmark_crop!r}"
            )
        if benchmark_crop is not None and paired_sets:
            raise ValueError(
                "benchmark_crop crops clean benchmark images; paired sets (paired_sets=true) "
                "are scored on their whole pairs: set benchmark_crop=null"
            )
        resolve_num_workers(num_workers)  # fails early on a bad value
        if cache_train_images and cache_dir is None and train_source != EMBEDDED_NAME:
            raise ValueError(
                "cache_train_images needs cache_dir: the folder for the decoded uint8 cache "
                "(e.g. data.cache_dir=/scratch/panet-cache, ~6.6 GB for DIV2K)"
            )
        if samples_per_epoch < batch_size:
            raise ValueError(
                f"samples_per_epoch ({samples_per_epoch}) must be at least batch_size "
                f"({batch_size}); incomplete batches are dropped"
            )
        if train_lq_source is not None and train_source == EMBEDDED_NAME:
            raise ValueError(
                "train_lq_source pairs degraded images with a folder of clean images; set "
                "train_source to that folder (the embedded images have no degraded twins)"
            )
        self.val_set_names: tuple[str, ...] = _names(val_sets, "val_sets")
        self.test_set_names: tuple[str, ...] = _names(test_sets, "test_sets")
        needs_root = [n for n in self.val_set_names + self.test_set_names if n != EMBEDDED_NAME]
        if needs_root and benchmark_root is None:
            raise ValueError(
                f"sets {needs_root} are looked up under benchmark_root, which is not set; set "
                f"benchmark_root to the folder holding them, or use val_sets=[{EMBEDDED_NAME}]"
            )
        self.degradation = degradation
        self.train_source = train_source
        self.train_lq_source = train_lq_source
        self.benchmark_root = benchmark_root
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.samples_per_epoch = samples_per_epoch
        self.num_workers = num_workers
        self.seed = seed
        self.colour = colour
        self.embedded_crop = embedded_crop
        self.benchmark_crop = benchmark_crop
        self.cache_train_images = cache_train_images
        self.cache_dir = cache_dir
        self.paired_sets = paired_sets
        self._embedded: dict[str, ImageFiles] = {}  # "train" / "held_out" -> cached images
        self._train_files: Source | None = None
        self._eval_sources: dict[str, Source] = {}
        self.train_set: TrainPatches | None = None
        self.val_datasets: tuple[EvalImages, ...] = ()
        self.test_datasets: tuple[EvalImages, ...] = ()

    def setup(self, stage: str | None = None) -> None:
        """Resolve the sources of the stage ("fit", "validate", "test"; None = all)."""
        if stage in ("fit", None) and self.train_set is None:
            self.train_set = TrainPatches(
                self._train_source(),
                degradation=self.degradation,
                patch_size=self.patch_size,
                samples_per_epoch=self.samples_per_epoch,
                seed=self.seed,
                colour=self.colour,
            )
        if stage in ("fit", "validate", None) and not self.val_datasets:
            self.val_datasets = tuple(self._eval_set(n) for n in self.val_set_names)
        if stage in ("test", None) and not self.test_datasets:
            self.test_datasets = tuple(self._eval_set(n) for n in self.test_set_names)

    def train_dataloader(self) -> DataLoader:
        if self.train_set is None:
            self.setup("fit")
        workers = self.workers()
        # Resumable mid-epoch: last.ckpt stores the position (see data.samplers).
        return ResumableLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=train_sampler(self.samples_per_epoch),
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=self._on_cuda(),
            drop_last=True,
            progress=self._train_batches_consumed,
        )

    def _train_batches_consumed(self) -> int:
        return batches_consumed(getattr(self, "trainer", None))

    def val_dataloader(self) -> list[DataLoader]:
        if len(self.val_datasets) != len(self.val_set_names):
            self.setup("validate")
        return [self._eval_loader(d) for d in self.val_datasets]

    def test_dataloader(self) -> list[DataLoader]:
        if len(self.test_datasets) != len(self.test_set_names):
            self.setup("test")
        return [self._eval_loader(d) for d in self.test_datasets]

    def train_files(self) -> Source:
        """The training images as files (pairs, a folder or the embedded photographs), resolved
        once and not decoded: what the input probe checks before the decoded cache, if any, is
        built from it in ``setup``."""
        if self._train_files is None:
            if self.train_lq_source is not None:
                self._train_files = PairedFolders(self.train_lq_source, self.train_source)
            elif self.train_source == EMBEDDED_NAME:
                self._train_files = self._embedded_images("train")
            elif has_paired_layout(self.train_source):
                self._train_files = discover_pairs(self.train_source)
            else:
                self._train_files = ImageFolder(self.train_source)
        return self._train_files

    def _train_source(self) -> Source:
        files = self.train_files()
        if not self.cache_train_images or not isinstance(files, ImageFolder):
            return files
        assert self.cache_dir is not None  # checked in __init__
        # Built here, in the main process, before any worker starts: all of them map it.
        return MappedImages.build(files, self.cache_dir)

    def eval_source(self, name: str) -> tuple[Source, int | None]:
        """Evaluation set ``name`` as files (resolved once, not decoded) and the side of the
        crops taken from each image (None: whole images)."""
        if name == EMBEDDED_NAME:
            return self._embedded_images("held_out"), self.embedded_crop
        if name not in self._eval_sources:
            assert self.benchmark_root is not None  # checked in __init__
            root = os.fspath(self.benchmark_root)
            self._eval_sources[name] = (
                paired_set(name, root) if self.paired_sets else benchmark_set(name, root)
            )
        return self._eval_sources[name], None if self.paired_sets else self.benchmark_crop

    def _embedded_images(self, part: str) -> ImageFiles:
        if part not in self._embedded:
            self._embedded[part] = embedded_default(part)
        return self._embedded[part]

    def _eval_set(self, name: str) -> EvalImages:
        source, crop_size = self.eval_source(name)
        return EvalImages(
            source, degradation=self.degradation, colour=self.colour, crop_size=crop_size
        )

    def _eval_loader(self, dataset: Dataset) -> DataLoader:
        # Unpadded under DDP so that every evaluation image is scored exactly once.
        workers = self.workers()
        return DataLoader(
            dataset,
            batch_size=1,
            sampler=eval_sampler(dataset),
            shuffle=False,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=self._on_cuda(),
        )

    def workers(self) -> int:
        """DataLoader workers per process: `num_workers`, or "auto" resolved for the devices
        this machine's processes share (`data.workers.resolve_num_workers`)."""
        trainer = getattr(self, "trainer", None)
        local = int(getattr(trainer, "num_devices", 1) or 1) if trainer is not None else 1
        return resolve_num_workers(self.num_workers, local_processes=local)

    def _on_cuda(self) -> bool:
        """Pinned host memory (faster, asynchronous copies) only when training on a GPU."""
        trainer = getattr(self, "trainer", None)
        return trainer is not None and trainer.strategy.root_device.type == "cuda"


def _names(sets: str | Sequence[str], what: str) -> tuple[str, ...]:
    """Set names as a tuple; a single name (e.g. `data.val_sets=Kodak24`) is one set."""
    names = (sets,) if isinstance(sets, str) else tuple(str(s) for s in sets)
    if len(set(names)) != len(names):
        raise ValueError(f"{what} lists a set twice: {list(names)}")
    return names
