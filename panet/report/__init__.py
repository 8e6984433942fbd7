"""``python -m panet.report PATH...``: our runs beside the published tables.

``published`` (the papers' numbers, kept as CSV data in ``published/`` with their source),
``runs`` (reading the ``metrics.json`` of run and sweep folders), ``tables`` (one table per
published table: the paper's rows, ours, and the differences), ``render`` (Markdown and CSV),
``plot`` (PSNR against a swept numeric knob, as PNG), ``__main__`` (the command).
"""
