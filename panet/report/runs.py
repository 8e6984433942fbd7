"""Our runs, read from the ``metrics.json`` that ``train.py`` and ``evaluate.py`` write.

A path may be a ``metrics.json``, a run folder or a sweep folder (searched at any depth). Per
run: the task, the setting of its degradation (``sigma=30``, ``quality=10``, ``scale=2`` or
empty), the test scores per set (``test/{set}/psnr`` of train.py, else ``{set}/psnr`` of
evaluate.py; validation scores are not test results and are left out), the architecture facts
that pair it with a published row, the command-line overrides (``meta.overrides``, else the
run folder's ``.hydra/overrides.yaml``), the seed, the tags and the parameter count.

Job folders (``.hydra/overrides.yaml``) under the given folders that hold no test scores are
*unfinished*: a failed, killed or running job, whose seed the report lists as missing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from panet.report.seeds import seed_of

METRICS_FILE = "metrics.json"
#: The overrides Hydra saves in every job folder.
HYDRA_OVERRIDES = Path(".hydra") / "overrides.yaml"
#: Keys of ``meta.degradation`` that make a table column's setting, in this order.
SETTING_KEYS: tuple[str, ...] = ("sigma", "quality", "scale")
#: Our set names -> the papers' names (case-insensitive); others are kept as they are.
SET_ALIASES: dict[str, str] = {
    "cbsd68": "BSD68",
    "bsd68": "BSD68",
    "classic5": "Classic5",
    "live1": "LIVE1",
    "kodak24": "Kodak24",
    "mcmaster": "McMaster18",
    "mcmaster18": "McMaster18",
    "urban100": "Urban100",
    "set5": "Set5",
    "set14": "Set14",
    "b100": "B100",
    "bsd100": "B100",
    "manga109": "Manga109",
}


@dataclass
class RunResult:
    """One run's test scores and what identifies its configuration."""

    path: Path
    task: str
    setting: str
    scores: dict[str, dict[str, float]]
    facts: dict[str, str]
    overrides: dict[str, str] = field(default_factory=dict)
    model: str = ""
    tags: tuple[str, ...] = ()
    params_k: float | None = None
    seed: str | None = None


@dataclass(frozen=True)
class UnfinishedJob:
    """A job folder without test scores (failed, killed or still running) and its overrides."""

    folder: Path
    overrides: dict[str, str]


def paper_set_name(name: str) -> str:
    """The papers' name of one of our sets (``CBSD68`` -> ``BSD68``)."""
    return SET_ALIASES.get(name.lower(), name)


def setting_of(degradation: Mapping[str, Any] | None) -> str:
    """``sigma=30`` / ``quality=10`` / ``scale=2`` from a run's degradation, else ``""``."""
    for key in SETTING_KEYS:
        value = (degradation or {}).get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if key == "scale" and value == 1:
                continue
            return f"{key}={value:g}"
    return ""


def scores_of(metrics: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``{set: {"psnr": .., "ssim": ..}}`` of the test results (train.py's ``test/`` keys, else
    evaluate.py's unprefixed ``{set}/{metric}`` keys); missing numbers are left out."""

    def collect(prefix: str) -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = {}
        for key, value in metrics.items():
            if not key.startswith(prefix) or not isinstance(value, int | float):
                continue
            parts = key[len(prefix) :].split("/")
            if len(parts) == 2 and parts[1] in ("psnr", "ssim") and math.isfinite(value):
                found.setdefault(paper_set_name(parts[0]), {})[parts[1]] = float(value)
        return found

    return collect("test/") or {
        name: values for name, values in collect("").items() if name not in ("test", "val", "train")
    }


def fact_text(value: Any) -> str:
    """A config value as the published ``config`` column writes it (lists joined by ``+``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "+".join(fact_text(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def facts_of(meta: Mapping[str, Any]) -> dict[str, str]:
    """``arch`` and every architecture argument, as text (train.py's ``arch``/``arch_args``, or
    evaluate.py's ``network``)."""
    network = meta.get("network") or {}
    arch = meta.get("arch") or network.get("arch") or ""
    arch_args = meta.get("arch_args") or network.get("arch_args") or {}
    facts = {str(k): fact_text(v) for k, v in arch_args.items()}
    facts["arch"] = str(arch)
    return facts


def parse_overrides(overrides: Iterable[str]) -> dict[str, str]:
    """``["a.b=1", "+c=[x, y]"]`` -> ``{"a.b": "1", "c": "[x,y]"}`` (no prefixes, no spaces)."""
    parsed = {}
    for item in overrides:
        if "=" in str(item):
            key, value = str(item).split("=", 1)
            parsed[key.lstrip("+~")] = value.replace(" ", "").strip("'\"")
    return parsed


def overrides_of(metrics_path: Path, meta: Mapping[str, Any]) -> dict[str, str]:
    """The run's command-line overrides: ``meta.overrides``, else ``.hydra/overrides.yaml``."""
    if meta.get("overrides"):
        return parse_overrides(meta["overrides"])
    return saved_overrides(metrics_path.parent)


def saved_overrides(folder: Path) -> dict[str, str]:
    """The overrides of Hydra's ``{folder}/.hydra/overrides.yaml`` ({} without one)."""
    hydra_file = folder / HYDRA_OVERRIDES
    if hydra_file.is_file():
        lines = hydra_file.read_text().splitlines()
        return parse_overrides(line[2:].strip() for line in lines if line.startswith("- "))
    return {}


def read_run(path: Path) -> RunResult | None:
    """The run of one ``metrics.json``; None when it holds no test scores or no ``meta``."""
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    meta = metrics.get("meta") if isinstance(metrics, dict) else None
    scores = scores_of(metrics) if isinstance(meta, dict) else {}
    if not scores or not meta.get("task"):
        return None
    cost = meta.get("cost") or {}
    params = cost.get("params_total")
    facts = facts_of(meta)
    overrides = overrides_of(path, meta)
    return RunResult(
        path=path,
        task=str(meta["task"]),
        setting=setting_of(meta.get("degradation")),
        scores=scores,
        facts=facts,
        overrides=overrides,
        model=str(meta.get("model") or facts.get("arch") or "run"),
        tags=tuple(str(t) for t in meta.get("tags") or ()),
        params_k=None if params is None else params / 1000,
        seed=seed_of(overrides, meta.get("seed")),
    )


def find_metrics(paths: Iterable[str | Path]) -> list[Path]:
    """Every ``metrics.json`` named or found under the given paths (sorted, each once)."""
    found: dict[Path, None] = {}
    for item in paths:
        path = Path(item)
        if path.is_file():
            found[path.resolve()] = None
        elif path.is_dir():
            found.update(dict.fromkeys(p.resolve() for p in sorted(path.rglob(METRICS_FILE))))
        else:
            raise FileNotFoundError(f"{path} is neither a metrics.json nor a folder")
    return list(found)


def collect_runs(paths: Iterable[str | Path]) -> tuple[list[RunResult], list[Path]]:
    """(runs with test scores, metrics files skipped because they hold none)."""
    runs, skipped = [], []
    for path in find_metrics(paths):
        run = read_run(path)
        if run is None:
            skipped.append(path)
        else:
            runs.append(run)
    return runs, skipped


def unfinished_jobs(paths: Iterable[str | Path], runs: Iterable[RunResult]) -> list[UnfinishedJob]:
    """Job folders under the given folders whose ``metrics.json`` is missing or holds no test
    scores (sorted by folder)."""
    finished = {run.path.resolve().parent for run in runs}
    found: dict[Path, None] = {}
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found.update(
                dict.fromkeys(p.parent.parent.resolve() for p in path.rglob(str(HYDRA_OVERRIDES)))
            )
    return [
        UnfinishedJob(folder, saved_overrides(folder))
        for folder in sorted(found)
        if folder not in finished
    ]


__all__ = [
    "RunResult",
    "UnfinishedJob",
    "collect_runs",
    "facts_of",
    "find_metrics",
    "paper_set_name",
    "parse_overrides",
    "read_run",
    "scores_of",
    "setting_of",
    "unfinished_jobs",
]
