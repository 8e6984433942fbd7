"""Every config file of every group composes with the real train.yaml/evaluate.yaml, resolves and
instantiates; the paper experiments carry the paper's numbers; bad values fail early."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from callbacks.mixup import MixUp
from panet.cli.config_checks import ConfigError, check_run_config
from panet.cli.run_setup import plain_config, run_folder
from panet.cli.trainer_setup import build_trainer
from tests.run_helpers import CONFIG_DIR, TINY_MODEL, TINY_MPRNET, compose_config

SR_MODELS = {"pa_edsr", "edsr", "edsr_baseline", "bicubic", "csnln", "csnln_s"}
#: CSNLN has a depth instead of residual blocks.
TINY_CSNLN = ("model.n_feats=8", "model.depth=1")


def group_files(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def test_every_group_has_files() -> None:
    for group in (
        "task",
        "degradation",
        "model",
        "pyramid",
        "data",
        "trainer",
        "paths",
        "experiment",
        "debug",
        "inference",
    ):
        assert group_files(group), f"configs/{group}/ is empty"


def test_default_is_the_quick_start(tmp_path: Path) -> None:
    cfg = compose_config("train", [], tmp_path)
    plain = plain_config(cfg)
    check_run_config(plain, training=True)
    assert cfg.task.name == "denoise" and cfg.degradation.sigma == 30
    assert cfg.model.n_resblocks == 8 and cfg.model._target_ == "panet.models.PANet"
    assert cfg.monitor == "val/embedded/psnr"
    assert cfg.callbacks.model_checkpoint.monitor == cfg.monitor
    net = instantiate(cfg.model)
    module = instantiate(cfg.module, net=net)
    assert module.protocol.channels == "rgb"
    assert instantiate(cfg.data).val_set_names == ("embedded",)


@pytest.mark.parametrize("task", group_files("task"))
def test_task_selects_its_degradation_and_protocol(task: str, tmp_path: Path) -> None:
    model = "pa_edsr" if task == "sr" else "panet_s"
    cfg = compose_config("train", [f"task={task}", f"model={model}", *TINY_MODEL], tmp_path)
    expected = {
        "denoise": "GaussianNoise",
        "demosaic": "BayerMosaic",
        "car": "JPEG",
        "sr": "BicubicDown",
        "deblur": "MotionBlur",
        "derain": "Rain",
    }[task]
    assert cfg.degradation._target_.endswith(expected)
    check_run_config(plain_config(cfg), training=True)
    protocol = instantiate(cfg.task.protocol)
    assert protocol.shave == (cfg.degradation.scale if task == "sr" else 0)
    net = instantiate(cfg.model)
    assert net.arch_args["n_colors"] == cfg.task.n_colors


@pytest.mark.parametrize("degradation", group_files("degradation"))
def test_degradation_files_instantiate(degradation: str, tmp_path: Path) -> None:
    task = {
        "noise": "denoise",
        "mosaic": "demosaic",
        "jpeg": "car",
        "bicubic": "sr",
        "motion_blur": "deblur",
        "linear_motion": "deblur",
        "rain": "derain",
    }[degradation]
    cfg = compose_config("train", [f"task={task}", f"degradation={degradation}"], tmp_path)
    deg = instantiate(cfg.degradation)
    assert deg.describe()


@pytest.mark.parametrize("model", group_files("model"))
def test_model_files_instantiate(model: str, tmp_path: Path) -> None:
    task = "sr" if model in SR_MODELS else "denoise"
    tiny = () if model in ("identity", "bicubic") else TINY_MODEL
    tiny = TINY_CSNLN if model.startswith("csnln") else tiny
    if model.startswith("mprnet"):
        tiny = TINY_MPRNET
    cfg = compose_config("train", [f"task={task}", f"model={model}", *tiny], tmp_path)
    net = instantiate(cfg.model)
    assert net.arch_args is not None and net.pixel_range in (1.0, 255.0)
    if model in ("identity", "bicubic"):
        with pytest.raises(ConfigError, match="evaluate.py"):
            check_run_config(plain_config(cfg), training=True)
    else:
        check_run_config(plain_config(cfg), training=True)


def test_model_sizes_follow_the_paper(tmp_path: Path) -> None:
    sizes = {}
    for model in ("panet", "panet_s", "pa_edsr", "edsr", "edsr_baseline", "resnet", "nonlocal"):
        task = "sr" if model in SR_MODELS else "denoise"
        cfg = compose_config("train", [f"task={task}", f"model={model}"], tmp_path)
        sizes[model] = (cfg.model.n_resblocks, cfg.model.n_feats, list(cfg.model.positions))
    assert sizes["panet"] == (80, 64, ["mid"]) and sizes["panet_s"] == (8, 64, ["mid"])
    assert sizes["pa_edsr"] == (32, 256, ["mid"]) and sizes["edsr"] == (32, 256, [])
    assert sizes["edsr_baseline"] == (16, 64, []) and sizes["resnet"] == (8, 64, [])
    cfg = compose_config("train", ["model=nonlocal"], tmp_path)
    assert (cfg.model.levels, cfg.model.patch_size) == (1, 1)


@pytest.mark.parametrize(
    ("overrides", "steps", "n_feats"),
    [
        ([], 2400, 32),
        (["trainer=gpu"], 2400, 32),  # another trainer keeps the model's length
        (["trainer.max_steps=50"], 50, 32),  # the command line still wins
        (["experiment=csnln_x2"], 1_000_000, 32),  # an experiment sets the paper length
    ],
)
def test_csnln_s_carries_its_training_length(
    overrides: list[str], steps: int, n_feats: int, tmp_path: Path
) -> None:
    """300 quick-start steps leave CSNLN-S below bicubic (README): model=csnln_s sets 2400."""
    base = ["task=sr", "degradation.scale=2", "model=csnln_s"]
    cfg = compose_config("train", [*base, *overrides], tmp_path)
    assert (cfg.trainer.max_steps, cfg.model.n_feats) == (steps, n_feats)
    assert cfg.model._target_ == "panet.models.CSNLN"
    assert compose_config("train", [], tmp_path).trainer.max_steps == 300


@pytest.mark.parametrize("group", ["pyramid", "data", "trainer", "inference", "debug"])
def test_other_groups_compose_and_instantiate(group: str, tmp_path: Path) -> None:
    for name in group_files(group):
        overrides = [f"{group}={name}", *TINY_MODEL]
        if name in ("folder", "paired"):
            overrides.append(f"data.train_source={tmp_path}")
        if name == "paired":
            overrides.append(f"data.train_lq_source={tmp_path}")
        if name in ("gpu", "ddp"):  # CPU-only test machines: check everything but the device
            overrides.append("trainer.accelerator=cpu")
        cfg = compose_config("train", overrides, tmp_path)
        plain = plain_config(cfg)
        if group == "trainer":
            trainer = build_trainer(cfg.trainer, logger=False, enable_progress_bar=False)
            assert trainer.max_steps == cfg.trainer.max_steps
        elif group == "data":
            assert instantiate(cfg.data).test_set_names
        elif group == "inference":
            assert callable(instantiate(cfg.inference))
        check_run_config(plain, training=True)


#: The paper configurations (the CPU-sized ablations are tested below).
PANET_EXPERIMENTS = [
    e for e in group_files("experiment") if not e.startswith(("mprnet", "ablation_cpu"))
]


@pytest.mark.parametrize("experiment", PANET_EXPERIMENTS)
def test_experiments_carry_the_paper_hyperparameters(experiment: str, tmp_path: Path) -> None:
    cfg = compose_config("train", [f"experiment={experiment}"], tmp_path)
    check_run_config(plain_config(cfg), training=True)
    assert cfg.trainer.max_steps == 1_000_000
    assert list(cfg.scheduler.milestones) == [200_000, 400_000, 600_000, 800_000]
    assert cfg.scheduler.gamma == 0.5
    assert cfg.optimizer.lr == 1e-4 and list(cfg.optimizer.betas) == [0.9, 0.999]
    assert cfg.optimizer.eps == 1e-8
    lq_patch = 32 if experiment == "csnln_x4" else 48  # HR 128 at x4, the authors' advice
    assert (cfg.data.batch_size, cfg.data.patch_size) == (16, lq_patch)
    assert cfg.inference.mode == "chop"
    if experiment.startswith("csnln"):
        assert cfg.task.name == "sr" and cfg.degradation.scale == int(experiment[-1])
        assert (cfg.model.depth, cfg.model.n_feats, cfg.task.chop_min_size) == (12, 128, 3600)
        net = instantiate(cfg.model, n_feats=8, depth=1)
        instantiate(cfg.module, net=net)
        return
    if experiment.startswith("pa_edsr"):
        assert cfg.task.name == "sr" and cfg.degradation.scale == int(experiment[-1])
        assert cfg.model.n_resblocks == 32 and cfg.model.res_scale == 0.1
    elif experiment.startswith("panet_car"):
        assert cfg.task.name == "car" and cfg.degradation.quality == int(experiment[-2:])
        assert cfg.model.n_colors == 1
    elif experiment.startswith("panet_dn"):
        assert cfg.task.name == "denoise" and cfg.degradation.sigma == int(experiment[-2:])
        assert cfg.model.n_resblocks == 80
    elif experiment == "panet_dm":
        assert cfg.task.name == "demosaic" and cfg.degradation.pattern == "GRBG"
    elif experiment == "ablation_r16_sigma30":
        assert cfg.model.n_resblocks == 16 and cfg.degradation.sigma == 30
    else:
        assert experiment == "paper_base" and cfg.task.name == "denoise"
    # Tiny sizes so that the whole composed stack instantiates in milliseconds.
    net = instantiate(cfg.model, n_feats=8, n_resblocks=2)
    instantiate(cfg.module, net=net)


#: The CPU ablations: swept key, its values (the paper's table rows) and the baseline.
CPU_ABLATIONS = {
    "ablation_cpu_attention": ("model", ["resnet", "nonlocal", "panet"], "model=resnet"),
    "ablation_cpu_levels": ("pyramid.levels", ["1", "2", "3", "4", "5"], "pyramid.levels=1"),
    "ablation_cpu_positions": (
        "pyramid.positions",
        ["[pre]", "[mid]", "[post]", "[pre,mid,post]"],
        "pyramid.positions=[mid]",
    ),
}


def test_cpu_ablation_presets_are_all_listed() -> None:
    presets = [e for e in group_files("experiment") if e.startswith("ablation_cpu")]
    assert sorted(presets) == sorted([*CPU_ABLATIONS, "ablation_cpu_base"])


@pytest.mark.parametrize("experiment", sorted(CPU_ABLATIONS))
def test_cpu_ablations_run_every_row_under_three_seeds(experiment: str, tmp_path: Path) -> None:
    from hydra.types import RunMode

    from panet.cli.multirun_checks import job_overrides
    from panet.cli.seed_sweep import add_seed_sweep

    key, values, baseline = CPU_ABLATIONS[experiment]
    cfg = compose_config("train", [f"experiment={experiment}"], tmp_path)
    # one command: a multirun of every row x 3 seeds, seed by seed, with its baseline
    assert cfg.hydra.mode == RunMode.MULTIRUN and cfg.run_name == experiment
    assert cfg.seeds == 3 and cfg.baseline == baseline
    assert add_seed_sweep(cfg) == [1, 2, 3]  # what the SeedSweep callback does first
    jobs = job_overrides(cfg)
    expected = [[f"seed={s}", f"{key}={v}"] for s in (1, 2, 3) for v in values]
    assert [[o for o in job if o.startswith(("seed=", key + "="))] for job in jobs] == expected
    # the ablation base of Tables 6-9 at CPU size
    assert cfg.task.name == "denoise" and cfg.degradation.sigma == 30
    assert (cfg.model.n_resblocks, cfg.model.n_feats) == (16, 32)
    assert cfg.trainer.accelerator == "cpu" and cfg.data.train_source == "embedded"
    assert list(cfg.data.val_sets) == ["embedded", "Set5"] == list(cfg.data.test_sets)
    assert cfg.data.benchmark_crop == 64 and cfg.monitor == "val/embedded/psnr"
    milestones = list(cfg.scheduler.milestones)
    assert milestones == sorted(milestones) and milestones[-1] < cfg.trainer.max_steps
    assert cfg.trainer.max_steps % (cfg.data.samples_per_epoch // cfg.data.batch_size) == 0
    for value in values:  # every row composes, passes the checks and builds
        row = compose_config("train", [f"experiment={experiment}", f"{key}={value}"], tmp_path)
        check_run_config(plain_config(row), training=True)
        net = instantiate(row.model, n_feats=8, n_resblocks=2)
        positions = list(net.arch_args["positions"])
        if key == "pyramid.positions":
            assert positions == value.strip("[]").split(",")
        else:
            assert positions == ([] if value == "resnet" else ["mid"])


#: MPRNet experiments: (task, variant, loss, patch, steps per epoch, epochs, validation every).
MPRNET_RECIPES = {
    "mprnet_gopro": ("deblur", "deblur", "WeightedSum", 256, 132, 3000, 20),
    "mprnet_rain13k": ("derain", "derain", "WeightedSum", 256, 857, 250, 5),
    "mprnet_sidd": ("denoise", "denoise", "Clamped", 128, 6000, 80, 1),
}


@pytest.mark.parametrize("experiment", sorted(MPRNET_RECIPES))
def test_mprnet_experiments_carry_the_authors_recipe(experiment: str, tmp_path: Path) -> None:
    task, variant, loss, patch, per_epoch, epochs, every = MPRNET_RECIPES[experiment]
    assert experiment in group_files("experiment")
    cfg = compose_config("train", [f"experiment={experiment}"], tmp_path)
    check_run_config(plain_config(cfg), training=True)
    assert cfg.task.name == task and cfg.model.variant == variant
    assert cfg.loss._target_.endswith(loss)
    assert (cfg.data.patch_size, cfg.data.batch_size) == (patch, 16)
    assert cfg.data.samples_per_epoch == per_epoch * 16
    assert cfg.trainer.max_steps == epochs * per_epoch
    assert cfg.trainer.check_val_every_n_epoch == every
    assert cfg.optimizer.lr == 2e-4 and list(cfg.optimizer.betas) == [0.9, 0.999]
    assert cfg.scheduler.warmup_steps == 3 * per_epoch and cfg.scheduler.min_lr == 1e-6
    cosine_epochs = epochs + (40 if experiment == "mprnet_sidd" else 0)
    assert cfg.scheduler.total_steps == cosine_epochs * per_epoch
    if experiment == "mprnet_sidd":
        assert cfg.optimizer.weight_decay == 1e-8
        assert cfg.callbacks.mixup.alpha == 0.6
        assert cfg.callbacks.mixup.start_step == 5 * per_epoch
        assert cfg.task.protocol.ssim_window == "matlab"
    else:
        assert "mixup" not in cfg.callbacks and "weight_decay" not in cfg.optimizer
    # The composed stack instantiates (tiny widths instead of the authors').
    net = instantiate(cfg.model, variant=None, n_feats=8, scale_unetfeats=4, scale_orsnetfeats=4)
    module = instantiate(cfg.module, net=net)
    optimizer = module.configure_optimizers()["optimizer"]
    assert optimizer.defaults["weight_decay"] == (1e-8 if experiment == "mprnet_sidd" else 0)
    if experiment == "mprnet_sidd":
        assert isinstance(instantiate(cfg.callbacks.mixup), MixUp)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["pyramid.scales=[1.0,1.5]"], "pyramid.scales"),
        (["pyramid.levels=0"], "pyramid.levels"),
        (["pyramid.patch_size=2"], "patch_size"),
        (["pyramid.positions=[mid,top]"], "positions"),
        (["task=sr", "model=pa_edsr", "degradation.scale=5"], "degradation.scale"),
        (["model=edsr"], "task=sr"),
        (["task=sr"], "upsampling"),
        (["model=identity"], "evaluate.py"),
        (["trainer.max_steps=0"], "max_steps"),
        (["scheduler.milestones=[400,200]"], "milestones"),
        (["monitor=val/Kodak24/psnr"], "data.val_sets"),
        (["task.n_colors=1"], "task.n_colors"),
        (["task=car", "task.colour=rgb"], "task.colour"),
        (["pyramid.impl=quick"], "pyramid.impl"),
        (["task=sr", "degradation.scale=3", "model=csnln_s", "data.patch_size=16"], "size=15"),
        (["experiment=csnln_x2", "data.patch_size=47"], "multiple of 2"),
        (
            ["model=mprnet_s", "data.patch_size=30"],
            "patch_size=30 is not a multiple of 8.*24 or 32",
        ),
        (["scheduler=warmup_cosine", "scheduler.warmup_steps=300"], "scheduler.warmup_steps"),
    ],
)
def test_bad_values_fail_early_with_the_key_to_change(
    overrides: list[str], message: str, tmp_path: Path
) -> None:
    cfg = compose_config("train", overrides, tmp_path)
    with pytest.raises(ConfigError, match=message):
        check_run_config(plain_config(cfg), training=True)


def test_run_folder_is_a_function_of_the_command(tmp_path: Path) -> None:
    a = compose_config("train", ["pyramid.levels=3", "seed=1"], tmp_path)
    b = compose_config("train", ["seed=1", "pyramid.levels=3"], tmp_path)
    c = compose_config("train", ["seed=1", "pyramid.levels=3", "run_name=mine"], tmp_path)
    d = compose_config("train", [], tmp_path)

    def run_dir(cfg) -> str:
        return OmegaConf.to_container(cfg.hydra.run, resolve=True)["dir"]

    assert run_dir(a) == run_dir(b) and run_dir(a).endswith("pyramid.levels=3,seed=1")
    assert run_dir(c).endswith("/mine") and run_dir(d).endswith("/train/denoise/default")
    assert run_folder(None, "a=[1,2]/b") == "a=_1,2_b"


def test_evaluate_config_composes_for_baselines(tmp_path: Path) -> None:
    cfg = compose_config("evaluate", ["model=identity", "task=car"], tmp_path)
    assert cfg.degradation.quality == 10 and list(cfg.data.test_sets) == ["classic5"]
    assert instantiate(cfg.model).arch == "identity"
    cfg = compose_config("evaluate", ["model=bicubic", "task=sr", "degradation.scale=3"], tmp_path)
    assert instantiate(cfg.model).scale == 3 and cfg.task.protocol.shave == 3
