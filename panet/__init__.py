"""PANet Lab: pyramid attention networks and their relatives for image restoration.

The core packages are plain PyTorch (they import torch, NumPy and Pillow only) and depend on
each other one way: ``imaging`` and ``attention`` at the bottom, ``models`` on ``attention``
and ``imaging``, ``evaluation``/``inference``/``checkpoints`` on those. ``training`` (the
LightningModule) adds Lightning; ``cli`` (run set-up, config checks, the restore command) adds
Hydra/OmegaConf/rich. ``tests/test_import_rules.py`` enforces the rule.

- ``panet.models``: building blocks, PANet, EDSR/PA-EDSR, baselines, the network registry.
- ``panet.attention``: the pyramid attention module, its faithful and fast implementations and
  the native kernels.
- ``panet.imaging``: pixel operations shared by ``data/`` and evaluation: image files, MATLAB
  ``imresize``, ``rgb2ycbcr``, the uint8 quantizer, the 8 flips/transposes.
- ``panet.evaluation``: PSNR/SSIM, the per-task protocols, the per-image scorer.
- ``panet.inference``: ``restore``: the authors' chop, batched tiles, ×8 self-ensemble.
- ``panet.checkpoints``: the authors' layouts, our network files, loading for evaluation.
- ``panet.tasks``: what each task asks of a network (channels, scale).
- ``panet.atomic``: the one atomic file writer.
- ``panet.training``: the LightningModule.
- ``panet.cli``: what needs Hydra/OmegaConf: run set-up, config checks, results tables, the
  restore command (``python -m panet.cli.restore``).
"""
