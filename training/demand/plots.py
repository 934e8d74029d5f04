"""Backtest figures logged with each training run (matplotlib, no display needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def wape_by_window(scored: pd.DataFrame, columns: dict[str, str]) -> Any:
    """WAPE per backtest window for the model and each baseline."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    windows = sorted(scored["window"].unique())
    width = 0.8 / max(len(columns), 1)
    for k, (label, col) in enumerate(columns.items()):
        values = [
            np.abs(g["y"] - g[col]).sum() / max(g["y"].sum(), 1e-9)
            for _, g in scored.groupby("window", sort=True)
        ]
        ax.bar(np.arange(len(windows)) + k * width, values, width, label=label)
    ax.set_xticks(np.arange(len(windows)) + width * (len(columns) - 1) / 2)
    ax.set_xticklabels([f"window {w}" for w in windows])
    ax.set_ylabel("WAPE")
    ax.set_title("Backtest WAPE by window (lower is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def example_series(scored: pd.DataFrame, n: int = 4) -> Any:
    """Actuals, forecast and 80 % interval for the highest-volume series of each segment."""
    plt = _plt()
    picks = []
    for seg in ("fast", "slow", "intermittent"):
        part = scored[scored["segment"] == seg]
        if not part.empty:
            picks.append(part.groupby("unique_id")["y"].sum().idxmax())
    picks = picks[:n]
    fig, axes = plt.subplots(len(picks) or 1, 1, figsize=(9, 2.6 * max(len(picks), 1)))
    axes = np.atleast_1d(axes)
    for ax, uid in zip(axes, picks, strict=False):
        s = scored[scored["unique_id"] == uid].sort_values("date")
        ax.fill_between(s["date"], s["lo_80"], s["hi_80"], alpha=0.25, label="80 % interval")
        ax.plot(s["date"], s["mean"], label="forecast")
        ax.plot(s["date"], s["y"], ".", color="black", label="actual")
        ax.set_title(f"{uid} ({s['segment'].iloc[0]})", fontsize=9)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def adaptation(curves: dict[str, pd.DataFrame], threshold: float) -> Any:
    """Median share of an injected level shift absorbed by next-day forecasts, by day."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, c in curves.items():
        if c.empty:
            continue
        med = c.groupby("day")["closure"].median()
        ax.plot(med.index, med.to_numpy(), label=label)
    ax.axhline(threshold, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("days after the level shift")
    ax.set_ylabel("share of the shift absorbed (median)")
    ax.set_ylim(-0.2, 1.4)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    else:  # shifts were injected, but none in a scored series with forecasts around it
        ax.text(
            0.5,
            0.5,
            "no level shift to follow in the scored days",
            ha="center",
            transform=ax.transAxes,
        )
    fig.tight_layout()
    return fig


def inventory(dates: pd.DatetimeIndex, series: dict[str, np.ndarray]) -> Any:
    """Total on-hand units per day in the policy replay."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, values in series.items():
        ax.plot(dates, values, label=label)
    ax.set_ylabel("units on hand (all series)")
    ax.set_title("Policy replay: inventory")
    ax.legend()
    fig.tight_layout()
    return fig


def trade_off(points: list[dict]) -> Any:
    """Fill rate against average inventory per policy, one marker per service target."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name in ("ours", "baseline"):
        curve = sorted((p for p in points if p["policy"] == name), key=lambda p: p["service_level"])
        x = [p["avg_inventory"] for p in curve]
        y = [p["fill_rate"] for p in curve]
        ax.plot(x, y, marker="o", label=name)
        for p in curve:
            ax.annotate(
                f"{p['service_level']:.0%}", (p["avg_inventory"], p["fill_rate"]), fontsize=7
            )
    ax.set_xlabel("average units on hand")
    ax.set_ylabel("fill rate")
    ax.set_title("Policy replay: service bought per unit of stock")
    ax.legend()
    fig.tight_layout()
    return fig


def close(fig: Any) -> None:
    _plt().close(fig)
