"""Small PNG plots of what a run produced: the training loss curve, the latent space and the anomaly timeline.

Every function returns PNG bytes (matplotlib, Agg backend, imported inside the functions so that loading the
code location does not import matplotlib). Figures are 6 x 4 in at 90 dpi so that they stay light enough to
store as run metadata.
"""

from __future__ import annotations

import base64
import io

import numpy as np

from pipeline.latents import LATENT_PREFIX
from pipeline.usefulness import evenly_spaced_positions

FIGSIZE = (6.0, 4.0)
DPI = 90
MAX_SCATTER_POINTS = 5000


def png_markdown(png: bytes, alt: str) -> str:
    """Markdown that shows `png` inline (a data URI), as the Dagster UI renders it."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def _figure(projection: str | None = None):
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure  # a Figure without pyplot: no global state, no GUI

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    ax = fig.add_subplot(1, 1, 1, projection=projection)
    return fig, ax


def _png(fig, tight: bool = True) -> bytes:
    buf = io.BytesIO()
    if tight:  # the layout engine measures every text: most of a small figure's time
        fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def loss_curve_png(history: dict) -> bytes:
    """Training (and validation, if any) loss per epoch, the best epoch marked."""
    fig, ax = _figure()
    loss = history["loss"]
    epochs = np.arange(1, len(loss) + 1)
    ax.plot(epochs, loss, marker="o", ms=3, label="training loss")
    if history.get("val_loss"):
        ax.plot(epochs, history["val_loss"], marker="o", ms=3, label="validation loss")
    if "best_epoch" in history:
        ax.axvline(history["best_epoch"], color="grey", ls="--", lw=1, label=f"best epoch {history['best_epoch']}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (scaled units)")
    ax.set_title(f"Autoencoder training: {len(loss)} epoch(s)")
    if len(epochs) <= 12:
        ax.set_xticks(epochs)
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(fig)


def project_3d(z: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """At most three coordinates to draw and their axis names: the dimensions themselves when there are at
    most three, else the first three principal components."""
    z = np.asarray(z, dtype=np.float64)
    k = z.shape[1]
    if k <= 3:
        return z, [f"{LATENT_PREFIX}{d}" for d in range(k)]
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:3].T, ["PC1", "PC2", "PC3"]


def latent_scatter_png(z: np.ndarray, colour: np.ndarray, colour_label: str, title: str,
                       max_points: int = MAX_SCATTER_POINTS) -> bytes:
    """The latent space as a scatter (3-D when there are three or more dimensions), coloured by `colour`;
    at most `max_points` windows, evenly spaced in time, which the title says."""
    z = np.asarray(z, dtype=np.float64)
    n = len(z)
    keep = evenly_spaced_positions(n, max_points)
    coords, names = project_3d(z[keep])
    colour = np.asarray(colour, dtype=np.float64)[keep]
    shown = f"all {n} windows" if len(keep) == n else f"{len(keep)} of {n} windows, evenly spaced"
    fig, ax = _figure("3d" if coords.shape[1] >= 3 else None)
    if coords.shape[1] >= 3:
        points = ax.scatter(coords[:, 0], coords[:, 1], coords[:, 2], c=colour, s=4, cmap="viridis",
                            depthshade=False)
        ax.set_zlabel(names[2])
    elif coords.shape[1] == 2:
        points = ax.scatter(coords[:, 0], coords[:, 1], c=colour, s=4, cmap="viridis")
    else:  # one dimension: against the window's position in time
        points = ax.scatter(np.arange(len(coords)), coords[:, 0], c=colour, s=4, cmap="viridis")
        names = ["window (time order)", names[0]]
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title(f"{title}\n({shown})", fontsize=10)
    fig.colorbar(points, ax=ax, shrink=0.7, pad=0.12 if coords.shape[1] >= 3 else 0.02, label=colour_label)
    return _png(fig)


def hours_since_start(timestamps) -> np.ndarray:
    """Hours since the first timestamp: a colour scale for time."""
    ts = np.asarray(timestamps, dtype="datetime64[ns]")
    if len(ts) == 0:
        return np.zeros(0)
    return (ts - ts.min()).astype("timedelta64[s]").astype(np.float64) / 3600.0


def anomaly_timeline_png(times, scores: np.ndarray, events, title: str) -> bytes:
    """Anomaly score over time (log scale), the threshold at 1, and the events shaded."""
    fig, ax = _figure()
    ts = np.asarray(times, dtype="datetime64[ns]")
    keep = evenly_spaced_positions(len(ts), 20_000)
    ax.plot(ts[keep], np.maximum(np.asarray(scores)[keep], 1e-3), lw=0.8, color="tab:blue", label="anomaly score")
    ax.axhline(1.0, color="tab:red", ls="--", lw=1, label="threshold")
    for k, (first, last) in enumerate(zip(events["start"], events["end"], strict=True)):
        ax.axvspan(first, last, color="tab:orange", alpha=0.3, label="event" if k == 0 else None)
    ax.set_yscale("log")
    ax.set_ylabel("anomaly score (figure / threshold)")
    ax.set_title(f"{title}: {len(events)} event(s)", fontsize=10, pad=20)
    ax.grid(alpha=0.3)
    # outside the axes, below the title: a fixed corner would sit over the scores of some day
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False, borderaxespad=0.1)
    fig.autofmt_xdate()
    return _png(fig)


def regime_timeline_png(times, regime: np.ndarray, off: np.ndarray, title: str) -> bytes:
    """Each window's regime over time, windows off every regime marked."""
    fig, ax = _figure()
    ts = np.asarray(times, dtype="datetime64[ns]")
    keep = np.union1d(evenly_spaced_positions(len(ts), MAX_SCATTER_POINTS), np.flatnonzero(off)[:MAX_SCATTER_POINTS])
    regime, off = np.asarray(regime)[keep], np.asarray(off, dtype=bool)[keep]
    ax.scatter(ts[keep][~off], regime[~off], s=3, c=regime[~off], cmap="tab10", vmin=0, vmax=9)
    if off.any():
        ax.scatter(ts[keep][off], regime[off], s=12, marker="x", color="black", label="off every regime")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, frameon=False, borderaxespad=0.1)
    ax.set_yticks(sorted(set(regime.tolist())))
    ax.set_ylabel("regime")
    ax.set_title(title, fontsize=10, pad=20 if off.any() else 6)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _png(fig)


def event_traces_png(shown, sensors: list[str], events, top_sensors: int = 3) -> bytes:
    """For each event (a row), the readings (solid) and reconstruction (dashed) of its peak window in raw units,
    one panel per sensor of the window's largest errors; `shown` is a pipeline.view.ViewWindows holding the
    peak windows."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    events = list(events.itertuples())
    cols = min(top_sensors, len(sensors))
    fig = Figure(figsize=(FIGSIZE[0] * 1.4, 1.8 * len(events) + 0.3), dpi=DPI)
    axes = fig.subplots(len(events), cols, squeeze=False)
    ends = np.asarray(shown.end, "datetime64[ns]")
    w = shown.readings.shape[1]
    for row, event in zip(axes, events, strict=True):
        i = int(np.argmin(np.abs(ends - np.datetime64(event.peak_at, "ns"))))
        minutes = np.arange(w) * (ends[i] - shown.start[i]) / np.timedelta64(1, "m") / max(w - 1, 1)
        for ax, s in zip(row, np.argsort(-shown.sensor_errors[i], kind="stable")[:cols], strict=True):
            ax.plot(minutes, shown.readings[i, :, s], lw=1.2, label="readings")
            ax.plot(minutes, shown.reconstruction[i, :, s], lw=1, ls="--", color="tab:red", label="reconstruction")
            ax.set_title(sensors[s], fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        row[0].set_ylabel(f"peak {str(np.datetime64(event.peak_at, 's'))[11:]}\nscore {event.peak_score:.2f}",
                          fontsize=8)
    axes[0, 0].legend(fontsize=7, frameon=False)
    for ax in axes[-1]:
        ax.set_xlabel("minutes into the peak window", fontsize=8)
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.1, right=0.98, top=1 - 0.25 / height, bottom=0.45 / height, hspace=0.55, wspace=0.3)
    return _png(fig, tight=False)
