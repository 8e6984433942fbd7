"""The application layer: everything that needs Hydra, OmegaConf or rich.

``run_setup`` (resolvers, run folders, the printed and saved config, ``metrics.json``),
``wandb_run_id`` (the W&B run id kept in the run folder), ``config_checks`` (values checked
before anything heavy starts), ``results`` (the table train.py and evaluate.py print),
``restore`` (the restore command, ``python -m panet.cli.restore``).
"""
