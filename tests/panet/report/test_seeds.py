"""Jobs that differ only by seed form one configuration; missing seeds are named; every
configuration finds its baseline; the seeds shortcut expands."""

from __future__ import annotations

import pytest

from panet.report.seeds import (
    baseline_pairs,
    compare,
    configuration_of,
    group_replicates,
    has_replicates,
    parse_baseline,
    seed_list,
    seed_of,
    sorted_seeds,
)


def job(seed: int | None, psnr: float | None, **overrides: str):
    """(overrides, metrics or None, source) as the summary and the report pass them."""
    items = {k.replace("__", "."): v for k, v in overrides.items()}
    if seed is not None:
        items["seed"] = str(seed)
    items["paths.log_dir"] = f"/tmp/{seed}"  # where it ran: not part of the configuration
    metrics = None if psnr is None else {"test/Set5/psnr": psnr}
    return items, metrics, f"job{seed}"


def test_configuration_leaves_out_the_seed_and_the_plumbing() -> None:
    overrides = {
        "+pyramid.positions": "[pre, mid]",
        "seed": "3",
        "seeds": "3",
        "hydra.sweep.dir": "x",
        "data.num_workers": "0",
        "logger": "csv",
        "model": "'panet'",
    }
    assert configuration_of(overrides) == {"pyramid.positions": "[pre,mid]", "model": "panet"}
    assert seed_of(overrides) == "3" and seed_of({}) is None and seed_of({}, 0) == "0"
    assert sorted_seeds(["10", "2", None, "a", "1"]) == ["1", "2", "10", "a", None]


def test_group_replicates_and_missing_seeds() -> None:
    configurations = group_replicates(
        [
            job(1, 30.0, model="resnet"),
            job(1, 30.2, model="panet"),
            job(2, 30.4, model="resnet"),
            job(2, None, model="panet"),  # failed
            job(3, 30.3, model="resnet"),
        ]
    )
    resnet, panet = configurations
    assert resnet.settings == {"model": "resnet"} and panet.settings == {"model": "panet"}
    assert resnet.seeds == ["1", "2", "3"] and resnet.missing() == []
    assert panet.seeds == ["1"] and panet.missing() == ["2"]
    # seed 3 ran for resnet: panet misses it too
    assert panet.missing(["1", "2", "3"]) == ["2", "3"]
    estimate = resnet.estimate("test/Set5/psnr")
    assert estimate.n == 3 and estimate.mean == pytest.approx(30.2333333)
    assert panet.estimate("test/Set5/ssim") is None
    assert has_replicates(configurations)
    assert not has_replicates(group_replicates([job(0, 1.0, a="1"), job(0, 2.0, a="2")]))


def test_each_configuration_pairs_with_the_baseline_of_its_other_knobs() -> None:
    configurations = group_replicates(
        [
            job(
                s,
                30.0 + levels * 0.1 + (0.2 if positions != "[]" else 0) + s * 0.01,
                pyramid__levels=str(levels),
                pyramid__positions=positions,
            )
            for s in (1, 2, 3)
            for levels in (1, 3)
            for positions in ("[]", "[mid]")
        ]
    )
    pairs = baseline_pairs(configurations, parse_baseline("pyramid.positions=[]"))
    assert [(c.settings["pyramid.levels"], b.settings["pyramid.levels"]) for c, b in pairs] == [
        ("1", "1"),
        ("3", "3"),
    ]
    for configuration, base in pairs:
        comparison = compare(configuration, base, "test/Set5/psnr")
        assert comparison.paired == ("1", "2", "3") and comparison.unpaired == ()
        assert comparison.difference.mean == pytest.approx(0.2)
    # one baseline configuration serves every other one when no knob matches
    single = group_replicates(
        [job(1, 30.0, model="resnet"), job(1, 30.1, model="panet", pyramid__levels="3")]
    )
    ((configuration, base),) = baseline_pairs(single, ("model", "resnet"))
    assert base.settings == {"model": "resnet"}


def test_unpaired_seeds_and_a_missing_baseline() -> None:
    configurations = group_replicates(
        [job(1, 30.0, m="a"), job(2, 30.1, m="a"), job(2, 30.5, m="b"), job(3, 30.6, m="b")]
    )
    a, b = configurations
    comparison = compare(b, a, "test/Set5/psnr")
    assert comparison.paired == ("2",) and comparison.unpaired == ("1", "3")
    assert comparison.difference.n == 1 and comparison.difference.low is None
    with pytest.raises(ValueError, match="m takes the values a, b"):
        baseline_pairs(configurations, ("m", "c"))
    with pytest.raises(ValueError, match="no job sets other"):
        baseline_pairs(configurations, ("other", "1"))
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_baseline("model")
    assert parse_baseline("+pyramid.positions = [pre, mid]") == ("pyramid.positions", "[pre,mid]")


def test_the_seeds_shortcut() -> None:
    assert seed_list(3) == [1, 2, 3] and seed_list([0, 7, 42]) == [0, 7, 42]
    for bad, message in (
        (0, "positive"),
        ([1, 1], "twice"),
        ("3", "number of seeds"),
        ([1.5], "number of seeds"),
        (True, "number of seeds"),
        ([], "number"),
    ):
        with pytest.raises(ValueError, match=message):
            seed_list(bad)
