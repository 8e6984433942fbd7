"""The results table that ``train.py`` (validation/test) and ``evaluate.py`` print: one row per
set, the degraded input's and the output's PSNR/SSIM and the gain, as in the paper's tables."""

from __future__ import annotations

from collections.abc import Mapping

COLUMNS: tuple[str, ...] = (
    "set",
    "images",
    "PSNR input",
    "PSNR output",
    "gain (dB)",
    "SSIM input",
    "SSIM output",
)


def results_by_set(metrics: Mapping[str, float], prefix: str = "") -> dict[str, dict[str, float]]:
    """Flat ``{"<prefix><set>/<metric>": value}`` grouped as ``{set: {metric: value}}``, sets in
    the order they first appear; keys without the prefix or a set part are ignored."""
    grouped: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        if not key.startswith(prefix) or "/" not in key[len(prefix) :]:
            continue
        set_name, metric = key[len(prefix) :].split("/", 1)
        grouped.setdefault(set_name, {})[metric] = float(value)
    return grouped


def print_results_table(per_set: Mapping[str, Mapping[str, float]], title: str) -> None:
    """Print the table (rich); a missing number shows as ``nan``. Nothing for no sets."""
    if not per_set:
        return
    import rich
    from rich.table import Table

    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "set" else "right")
    nan = float("nan")
    for name, m in per_set.items():
        table.add_row(
            name,
            f"{m.get('n_images', nan):.0f}",
            f"{m.get('psnr_input', nan):.2f}",
            f"{m.get('psnr', nan):.2f}",
            f"{m.get('psnr', nan) - m.get('psnr_input', nan):+.2f}",
            f"{m.get('ssim_input', nan):.4f}",
            f"{m.get('ssim', nan):.4f}",
        )
    rich.print(table)
