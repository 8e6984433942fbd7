"""A tiny Hydra app standing in for train.py in the multirun-summary tests: it writes a flat
``metrics.json`` into its job folder (``fail=true``, or ``fail_seed`` equal to ``seed``, makes it
fail before writing it). PSNR: ``30 + x + 0.1 * seed * x``.

Run: ``python summary_app.py --config-dir DIR --config-name app -m x=1,2``; DIR holds an
``app.yaml`` naming the repo's configs folder in ``hydra.searchpath``.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path=None, config_name="app")
def main(cfg: DictConfig) -> float:
    if cfg.fail or cfg.fail_seed == cfg.seed:
        raise RuntimeError("job failed on purpose (fail=true or fail_seed=seed)")
    psnr = 30.0 + float(cfg.x) * (1 + 0.1 * cfg.seed)
    metrics = {"val/toy/psnr": psnr, "test/toy/psnr": psnr - 0.5, "meta": {"x": cfg.x}}
    Path(HydraConfig.get().runtime.output_dir, "metrics.json").write_text(json.dumps(metrics))
    return psnr


if __name__ == "__main__":
    main()
