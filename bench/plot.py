"""One PNG of the latency distributions of sections 4, 6 and 7, by percentile.

The x axis spreads the tail (HdrHistogram style): position -log10(1 - p/100), so 90, 99 and
99.9 sit one unit apart.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.harness import Results, percentile

PERCENTILES = [p / 10 for p in range(0, 990, 5)] + [99.0, 99.5, 99.9]
TICKS = [0, 50, 90, 99, 99.9]


def _x(p: float) -> float:
    return -math.log10(1 - min(p, 99.99) / 100)


def _axis(ax, title: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xticks([_x(p) for p in TICKS], [f"p{p:g}" for p in TICKS])
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms)")
    ax.grid(True, which="both", alpha=0.3)


def _pipeline_panel(ax, results: Results) -> None:
    latencies = results.series.get("pipeline_latency_ms") or []
    if latencies:
        ys = [percentile(latencies, p) for p in PERCENTILES]
        ax.plot([_x(p) for p in PERCENTILES], ys, color="tab:purple")
        for p in (50, 95, 99):
            value = percentile(latencies, p)
            ax.annotate(
                f"p{p} {value:.0f} ms",
                (_x(p), value),
                fontsize=8,
                xytext=(4, -10),
                textcoords="offset points",
            )
            ax.plot([_x(p)], [value], "o", color="tab:purple", markersize=3)
    _axis(
        ax,
        f"4. commit -> notification at {results.series.get('pipeline_rate', '?')} msgs/s "
        f"({len(latencies)} messages)",
    )


def _http_panel(ax, results: Results) -> None:
    for name, points in (results.series.get("http") or {}).items():
        points = [(p, v) for p, v in points if p <= 99.9]
        ax.plot([_x(p) for p, _ in points], [v for _, v in points], label=name)
    _axis(ax, "6. HTTP latency under wrk, gunicorn 2 workers")
    if results.series.get("http"):
        ax.legend(fontsize=8, loc="upper left")


def _live_panel(ax, results: Results) -> None:
    series = (
        ("live_receipt_ms", "commit -> client (SSE)", "tab:green"),
        ("live_notification_ms", "commit -> notification row", "tab:purple"),
    )
    for key, label, color in series:
        latencies = results.series.get(key) or []
        if latencies:
            ys = [percentile(latencies, p) for p in PERCENTILES]
            ax.plot([_x(p) for p in PERCENTILES], ys, color=color, label=label)
    received = results.series.get("live_receipt_ms") or []
    _axis(
        ax,
        f"7. receipt at {results.series.get('live_rate', '?')} msgs/s ({len(received)} messages)",
    )
    if received:
        ax.legend(fontsize=8, loc="upper left")


def plot(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta = results.meta
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(17, 4.8), constrained_layout=True)
    _pipeline_panel(left, results)
    _live_panel(middle, results)
    _http_panel(right, results)
    fig.suptitle(
        f"{meta.get('database', '')}, Redis {meta.get('redis', '')}; {meta.get('nproc')} cores "
        f"{meta.get('cpu', '')}; {meta.get('mode')} run at {meta.get('commit')}",
        fontsize=9,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
