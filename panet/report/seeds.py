"""Jobs that differ only by their seed are replicates of one configuration.

The multirun summary (``callbacks/multirun_summary.py``) and ``python -m panet.report`` both
group their jobs here: a job's configuration is its command-line overrides without ``seed`` and
without the keys that do not change what is trained (``NOT_CONFIGURATION``: where it runs, what
it logs). Per configuration and metric: the mean over seeds with its Student t interval
(``panet.report.stats``), and, against a baseline configuration the user names
(``pyramid.positions=[]``), the difference paired by seed. A job that left no results keeps its
seed in its configuration as *missing*, so a failed seed is reported, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from panet.report.stats import CONFIDENCE, Estimate, mean_interval, paired_difference

SEED_KEY = "seed"
#: Override keys (and their sub-keys) that do not change what a job trains: the seed (a
#: replicate), the seeds shortcut and the summary's baseline, and where or how it runs and logs.
NOT_CONFIGURATION: tuple[str, ...] = (
    SEED_KEY,
    "seeds",
    "baseline",
    "hydra",
    "paths",
    "run_name",
    "tags",
    "logger",
    "callbacks",
    "print_config",
    "resume",
    "data.num_workers",
    "data.cache_train_images",
    "data.cache_dir",
)


def seed_list(seeds: object) -> list[int]:
    """The ``seeds=`` shortcut: ``3`` -> ``[1, 2, 3]``; ``[0, 7, 42]`` -> those seeds (distinct
    integers). Raises ValueError for anything else."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be a positive number of seeds or a list; got {seeds}")
        return list(range(1, seeds + 1))
    if isinstance(seeds, Sequence) and not isinstance(seeds, str) and seeds:
        values = list(seeds)
        if all(isinstance(s, int) and not isinstance(s, bool) for s in values):
            if len(set(values)) == len(values):
                return values
            raise ValueError(f"seeds lists a seed twice: {values}")
    raise ValueError(
        f"seeds must be a number of seeds (seeds=3 runs seeds 1, 2, 3) or a list of integer "
        f"seeds (seeds=[0,7,42]); got {seeds!r}"
    )


def plain_key(key: str) -> str:
    """An override's key without Hydra's ``+``/``++``/``~`` prefix."""
    return key.lstrip("+~")


def plain_value(value: object) -> str:
    """An override's value as compared: no spaces, no surrounding quotes (``[pre, mid]`` and
    ``'[pre,mid]'`` are one value)."""
    return str(value).replace(" ", "").strip("'\"")


def is_configuration_key(key: str) -> bool:
    key = plain_key(key)
    return not any(key == name or key.startswith(name + ".") for name in NOT_CONFIGURATION)


def configuration_of(overrides: Mapping[str, str]) -> dict[str, str]:
    """The overrides that make a job's configuration (seed and run plumbing left out)."""
    return {plain_key(k): plain_value(v) for k, v in overrides.items() if is_configuration_key(k)}


def seed_of(overrides: Mapping[str, str], default: object = None) -> str | None:
    """The job's seed as text: its ``seed`` override, else ``default`` (None: unknown)."""
    for key, value in overrides.items():
        if plain_key(key) == SEED_KEY:
            return plain_value(value)
    return None if default is None else plain_value(default)


def seed_order(seed: str | None) -> tuple[int, float, str]:
    """Sort key: numeric seeds by value, then the others by text, unknown last."""
    if seed is None:
        return (2, 0.0, "")
    try:
        return (0, float(seed), seed)
    except ValueError:
        return (1, 0.0, seed)


def sorted_seeds(seeds: Iterable[str | None]) -> list[str | None]:
    return sorted(set(seeds), key=seed_order)


def seeds_text(seeds: Sequence[str | None]) -> str:
    """``1, 2, 3`` (an unknown seed reads ``?``)."""
    return ", ".join("?" if s is None else s for s in seeds)


@dataclass
class Replicate:
    """One job of a configuration: its seed, its metrics (None: it left no results) and where
    it ran (for messages)."""

    seed: str | None
    metrics: Mapping[str, float] | None
    source: str = ""


@dataclass
class Configuration:
    """The jobs that share every configuration override and differ only by seed."""

    settings: dict[str, str]
    replicates: list[Replicate] = field(default_factory=list)

    @property
    def seeds(self) -> list[str | None]:
        """Seeds with results, sorted."""
        return sorted_seeds(r.seed for r in self.replicates if r.metrics is not None)

    def missing(self, expected: Iterable[str | None] = ()) -> list[str | None]:
        """Seeds without results: jobs that failed (or are still running), and ``expected``
        seeds this configuration has no job for."""
        present = set(self.seeds)
        failed = {r.seed for r in self.replicates if r.metrics is None}
        return sorted_seeds((failed | set(expected)) - present)

    def values(self, metric: str) -> dict[str | None, float]:
        """``{seed: value}`` of a metric over the replicates that have it (the first job of a
        repeated seed wins)."""
        found: dict[str | None, float] = {}
        for replicate in self.replicates:
            if replicate.metrics is not None and metric in replicate.metrics:
                found.setdefault(replicate.seed, float(replicate.metrics[metric]))
        return found

    def estimate(self, metric: str, confidence: float = CONFIDENCE) -> Estimate | None:
        """Mean over seeds and its interval; None when no replicate has the metric."""
        values = self.values(metric)
        return mean_interval(list(values.values()), confidence) if values else None


def group_replicates(
    jobs: Iterable[tuple[Mapping[str, str], Mapping[str, float] | None, str]],
    default_seed: object = None,
) -> list[Configuration]:
    """``(overrides, metrics or None, source)`` per job -> configurations in first-seen order."""
    groups: dict[tuple[tuple[str, str], ...], Configuration] = {}
    for overrides, metrics, source in jobs:
        settings = configuration_of(overrides)
        key = tuple(sorted(settings.items()))
        group = groups.setdefault(key, Configuration(settings))
        group.replicates.append(Replicate(seed_of(overrides, default_seed), metrics, source))
    return list(groups.values())


def has_replicates(configurations: Sequence[Configuration]) -> bool:
    """Whether any configuration was run (or meant to run) under more than one seed."""
    return any(len({r.seed for r in c.replicates}) > 1 for c in configurations)


def parse_baseline(text: str) -> tuple[str, str]:
    """``"pyramid.positions=[]"`` -> ``("pyramid.positions", "[]")``."""
    if "=" not in str(text):
        raise ValueError(
            f"a baseline is one override KEY=VALUE, e.g. 'pyramid.positions=[]' or "
            f"'model=resnet'; got {text!r}"
        )
    key, value = str(text).split("=", 1)
    if not plain_key(key.strip()):
        raise ValueError(f"the baseline {text!r} names no key")
    return plain_key(key.strip()), plain_value(value)


def is_baseline(configuration: Configuration, baseline: tuple[str, str]) -> bool:
    key, value = baseline
    return configuration.settings.get(key) == value


def baseline_values(configurations: Sequence[Configuration], key: str) -> list[str]:
    """The values ``key`` takes among the configurations (for a "no such baseline" message)."""
    return sorted({c.settings[key] for c in configurations if key in c.settings})


def baseline_pairs(
    configurations: Sequence[Configuration], baseline: tuple[str, str]
) -> list[tuple[Configuration, Configuration]]:
    """``(configuration, its baseline)`` for every configuration that is not a baseline: the
    baseline configuration that agrees with it on every other override (``levels=3,
    positions=[mid]`` pairs with ``levels=3, positions=[]``), else the only baseline
    configuration there is. Raises ValueError when no configuration is a baseline."""
    key, _ = baseline
    bases = [c for c in configurations if is_baseline(c, baseline)]
    if not bases:
        values = baseline_values(configurations, key)
        raise ValueError(
            f"no configuration has the baseline {key}={baseline[1]}; "
            + (f"{key} takes the values {', '.join(values)}" if values else f"no job sets {key}")
        )
    pairs = []
    for configuration in configurations:
        if is_baseline(configuration, baseline):
            continue
        rest = {k: v for k, v in configuration.settings.items() if k != key}
        matching = [b for b in bases if {k: v for k, v in b.settings.items() if k != key} == rest]
        if matching:
            pairs.append((configuration, matching[0]))
        elif len(bases) == 1:
            pairs.append((configuration, bases[0]))
    return pairs


@dataclass(frozen=True)
class Comparison:
    """A configuration minus its baseline, seed by seed, for one metric."""

    metric: str
    paired: tuple[str | None, ...]
    unpaired: tuple[str | None, ...]
    difference: Estimate | None


def compare(
    configuration: Configuration,
    baseline: Configuration,
    metric: str,
    confidence: float = CONFIDENCE,
) -> Comparison:
    """The per-seed differences over the seeds both have (an unknown seed never pairs); the
    seeds only one of them has are ``unpaired``."""
    mine, theirs = configuration.values(metric), baseline.values(metric)
    paired = [s for s in sorted_seeds(set(mine) & set(theirs)) if s is not None]
    unpaired = sorted_seeds((set(mine) ^ set(theirs)) | ({None} & (set(mine) | set(theirs))))
    difference = (
        paired_difference([mine[s] for s in paired], [theirs[s] for s in paired], confidence)
        if paired
        else None
    )
    return Comparison(metric, tuple(paired), tuple(unpaired), difference)


def pairs_text(
    comparisons: Sequence[Comparison],
    missing: Sequence[str | None] = (),
    baseline_missing: Sequence[str | None] = (),
) -> str:
    """``3``, ``2 (missing: 3)``: the pairs, then the seeds without results of the
    configuration and of its baseline, and other seeds that only one of the two has."""
    paired = max((len(c.paired) for c in comparisons), default=0)
    notes = []
    if missing:
        notes.append(f"missing: {seeds_text(missing)}")
    if baseline_missing:
        notes.append(f"baseline missing: {seeds_text(baseline_missing)}")
    known = set(missing) | set(baseline_missing)
    unpaired = [s for s in sorted_seeds(s for c in comparisons for s in c.unpaired)]
    unpaired = [s for s in unpaired if s not in known]
    if unpaired:
        notes.append(f"unpaired: {seeds_text(unpaired)}")
    return f"{paired} ({'; '.join(notes)})" if notes else str(paired)


__all__ = [
    "NOT_CONFIGURATION",
    "SEED_KEY",
    "Comparison",
    "Configuration",
    "Replicate",
    "baseline_pairs",
    "compare",
    "configuration_of",
    "group_replicates",
    "has_replicates",
    "is_baseline",
    "pairs_text",
    "parse_baseline",
    "seed_list",
    "seed_of",
    "seeds_text",
    "sorted_seeds",
]
