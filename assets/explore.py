"""Exploring the latent space: the version's operating regimes (`latent_regimes`), its interactive view
(`latent_view`), and each scored day's view (`day_latent_view`, partitioned), written as self-contained HTML
files linked from the asset pages (pipeline.view, pipeline.regimes)."""

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from assets.metadata import GROUP, OWNERS, RANGE_IN_ONE_RUN, file_link, frame_table, image, per_day, stage_tags
from assets.partitions import DAY_CLOCK, DAYS
from assets.resources import PINNED, VERSIONED, DataRoot, storage_failures
from pipeline.latents import ANOMALY_SCORE, MODEL_VERSION, latent_columns
from pipeline.model import TrainedAutoencoder
from pipeline.plots import event_traces_png, regime_timeline_png
from pipeline.regimes import (
    FIT_WINDOWS,
    MAX_REGIMES,
    OFF_REGIME,
    REGIME,
    REGIME_DISTANCE,
    Assignment,
    LatentRegimes,
    fit_regimes,
    keep_ids,
)
from pipeline.span import day_windows
from pipeline.storage import ArtifactDamaged, ArtifactMissing, write_text
from pipeline.store import is_artifact, load_artifact
from pipeline.usefulness import evenly_spaced_positions
from pipeline.versions import PublishedStateError
from pipeline.view import (
    MAX_POINTS,
    VIEW_FILE,
    LatentView,
    ViewWindows,
    max_points,
    view_html,
    view_sample,
    view_windows,
    window_starts,
)
from pipeline.windows import TrainingWindows, gather_windows

CODE_VERSION = "2"  # bump when what this module computes changes (assets/metadata.py)
EVENT_PLOTS = 3  # events per day whose readings are drawn on the day's page


class LatentRegimesConfig(dg.Config):
    max_regimes: int = Field(MAX_REGIMES, description="Most regimes tried; the count of lowest BIC is kept")
    seed: int = Field(0, description="Seed of the Gaussian mixture's initialisation")


class ViewConfig(dg.Config):
    max_points: int = Field(MAX_POINTS, description="Most windows a view shows (fewer when their sensor traces "
                                                    "would not fit the page's size budget)")


def _published_regimes(context, data_root: DataRoot) -> tuple[str, TrainedAutoencoder, LatentRegimes] | None:
    """The published version's name, model and regimes, whose ids the new regimes keep; None, said in the
    log, when there are none or they cannot be read."""
    try:
        version = data_root.versions.published()
        if version is None or not is_artifact(version / "latent_regimes"):
            return None
        return version.name, load_artifact(version / "autoencoder"), load_artifact(version / "latent_regimes")
    except (PublishedStateError, ArtifactMissing, ArtifactDamaged) as exc:
        context.log.warning(f"the new regimes cannot keep the published version's ids: {exc}")
        return None


def _previous_regime(windows: TrainingWindows, starts: np.ndarray, trained: TrainedAutoencoder,
                     published: TrainedAutoencoder, regimes: LatentRegimes) -> Assignment:
    """The published version's regime of the windows at `starts`, from its own model's latents of them (the
    readings scaled with its own scaler)."""
    from pipeline.latents import latents_by

    x = gather_windows(windows.values, starts, windows.index.window_length)
    return regimes.assign(latents_by(published, x, trained.scaler))


def _share_table(ids, assignment: Assignment) -> dg.MetadataValue:
    """Each regime's share of the windows, and the share off every regime, in percent."""
    shares = assignment.shares(ids)
    off = float(np.mean(assignment.off)) if len(assignment.off) else 0.0
    return frame_table(pd.DataFrame({"regime": [f"regime {i}" for i in shares] + ["off every regime"],
                                     "windows %": [round(100 * v, 1) for v in [*shares.values(), off]]}))


@dg.asset(group_name=GROUP, kinds={"json"}, metadata={VERSIONED: True}, code_version=CODE_VERSION, owners=OWNERS,
          tags=stage_tags("regimes"),
          ins={"audit_latents": dg.AssetIn(), "autoencoder": dg.AssetIn(metadata={PINNED: True}),
               "training_windows": dg.AssetIn()},
          description="The new model's operating regimes: a Gaussian mixture over its audit latents, the count of "
                      "lowest BIC (pipeline.regimes). Regimes keep their ids across retrains: a new regime takes the "
                      "id of the published version's regime that holds most of its windows. Applied to every scored "
                      "day (regime, regime_distance, off_regime in the day latents). In "
                      "`<data root>/versions/<version>/latent_regimes/regimes.json`.")
@storage_failures
def latent_regimes(context: dg.AssetExecutionContext, config: LatentRegimesConfig, data_root: DataRoot,
                   audit_latents: pd.DataFrame, autoencoder: TrainedAutoencoder,
                   training_windows: TrainingWindows) -> LatentRegimes:
    z = audit_latents[latent_columns(audit_latents)].to_numpy()
    try:
        regimes = fit_regimes(z, config.max_regimes, config.seed)
    except ValueError as exc:
        raise dg.Failure(description=f"latent_regimes: {exc}") from None
    published = _published_regimes(context, data_root)
    if published is not None:
        name, model, previous = published
        if (tuple(model.sensors), model.window_length) != (tuple(autoencoder.sensors), autoencoder.window_length):
            context.log.warning(f"version {name} reads other sensors or window lengths: regimes get new ids")
        else:
            rows = evenly_spaced_positions(len(z), FIT_WINDOWS)
            starts = window_starts(training_windows, audit_latents["window_start"].to_numpy()[rows])
            regimes = keep_ids(regimes, z[rows], previous,
                               _previous_regime(training_windows, starts, autoencoder, model, previous), name)
    assignment = regimes.assign(z)
    context.add_output_metadata({
        "regimes": regimes.count, "summary": regimes.text(), "matched_to": regimes.matched_to or "none",
        "share": _share_table(regimes.ids, assignment),
        "bic": frame_table(pd.DataFrame({"regimes": list(regimes.bic), "bic": list(regimes.bic.values())})),
        "off_regime_distance": round(regimes.off_distance, 3),
    })
    return regimes


@dg.asset(group_name=GROUP, kinds={"html"}, metadata={VERSIONED: True}, code_version=CODE_VERSION, owners=OWNERS,
          tags=stage_tags("explore"),
          ins={"audit_latents": dg.AssetIn(), "autoencoder": dg.AssetIn(metadata={PINNED: True}),
               "training_windows": dg.AssetIn(), "latent_regimes": dg.AssetIn()},
          description="The new model's latent space to explore: an interactive HTML page (opens offline) of up to "
                      "max_points audit windows, to rotate, colour by time, day, score, regime or a sensor, hover, "
                      "select, and click for a window's readings and reconstruction. In "
                      "`<data root>/versions/<version>/latent_view/view.html`.")
@storage_failures
def latent_view(context: dg.AssetExecutionContext, config: ViewConfig, audit_latents: pd.DataFrame,
                autoencoder: TrainedAutoencoder, training_windows: TrainingWindows,
                latent_regimes: LatentRegimes) -> LatentView:
    w, sensors = training_windows.index.window_length, list(training_windows.sensors)
    limit = max_points(w, len(sensors), config.max_points)
    scores = audit_latents[ANOMALY_SCORE].to_numpy() if ANOMALY_SCORE in audit_latents else None
    rows = view_sample(len(audit_latents), limit, scores)
    starts = window_starts(training_windows, audit_latents["window_start"].to_numpy()[rows])
    shown = view_windows(autoencoder, training_windows, starts, latent_regimes)
    sampling = _sampling(len(rows), len(audit_latents), "audit windows of the training span")
    days = training_windows.day_names()
    notes = [f"Model trained on {days[0]} to {days[-1]}; {latent_regimes.text()}.", autoencoder.alignment_text,
             autoencoder.code_text]
    view = LatentView(view_html(shown, sensors, "Latent space of the new model", sampling, notes=notes),
                      len(rows), len(audit_latents))
    context.add_output_metadata({"points": view.points, "windows": view.windows, "megabytes": view.megabytes})
    return view


def _sampling(shown: int, total: int, what: str) -> str:
    if shown >= total:
        return f"All {total} {what}."
    return (f"{shown} of {total} {what}: the highest-scored and the events' peaks, the rest evenly spaced in time "
            "(the page's size is bounded).")


def _version_model(data_root: DataRoot, version: str) -> tuple[TrainedAutoencoder, LatentRegimes | None]:
    """The model (and regimes, if it has them) of the version that scored the days."""
    folder = data_root.versions.base / version
    if not is_artifact(folder / "autoencoder"):
        raise dg.Failure(description=f"the model of version {version}, which scored these days, is gone "
                                     f"({folder}): score the days again (latent_vectors) with the published model")
    try:
        regimes = load_artifact(folder / "latent_regimes") if is_artifact(folder / "latent_regimes") else None
        return load_artifact(folder / "autoencoder"), regimes
    except ArtifactDamaged as exc:
        raise dg.Failure(description=f"version {version}, which scored these days: {exc}; score the days again "
                                     "(latent_vectors) with the published model") from None


def _day_shown(data_root: DataRoot, day: str, latents: pd.DataFrame, events: pd.DataFrame, trained, regimes,
               limit: int):
    """The day's windows to show (event peaks, top scores, evenly spaced), rebuilt from its readings."""
    catalog = data_root.catalog
    try:
        current, previous = (catalog.day("validated_readings", d) for d in (day, DAY_CLOCK.previous(day)))
    except ArtifactDamaged as exc:
        raise dg.Failure(description=f"validated_readings: {exc}") from None
    if current is None:
        raise dg.Failure(description=f"{day} has latents but no validated readings any more (a later delivery "
                                     "failed?): materialise raw_readings and validated_readings for it, then score it")
    windows = day_windows(current, previous, trained.scaler, trained.window_length, 1)
    rows = view_sample(len(latents), limit, latents[ANOMALY_SCORE].to_numpy(),
                       _peaks(latents["window_end"].to_numpy(), events))
    starts = window_starts(windows, latents["window_start"].to_numpy()[rows])
    return view_windows(trained, windows, starts, regimes), rows


def _peaks(ends: np.ndarray, events: pd.DataFrame) -> np.ndarray | None:
    """The rows of the windows (by their ends, in time order) at which the events peak."""
    if not len(events) or not len(ends):
        return None
    return np.clip(np.searchsorted(np.asarray(ends, "datetime64[ns]"), events["peak_at"].to_numpy()), 0,
                   len(ends) - 1)


@dg.asset(group_name=GROUP, kinds={"html"}, code_version=CODE_VERSION, owners=OWNERS, tags=stage_tags("explore"),
          partitions_def=DAYS, backfill_policy=RANGE_IN_ONE_RUN, deps=["validated_readings"],
          description="A scored day's latent space to explore: an interactive HTML page of up to max_points of "
                      "its windows (the events' peaks and highest scores always), coloured by time, score, regime "
                      "or a sensor, with its events listed (click one for its readings and reconstruction); on the "
                      "day's page, its regime shares and timeline and the readings of its top events. In "
                      "`<data root>/store/day_latent_view/<day>/view.html`; a run over several days also writes "
                      "one page of them all, `<data root>/views/<first day>_<last day>.html`.")
@storage_failures
def day_latent_view(context: dg.AssetExecutionContext, config: ViewConfig, data_root: DataRoot, latent_vectors,
                    anomaly_events):
    days = context.partition_keys
    latents = latent_vectors if isinstance(latent_vectors, dict) else {days[0]: latent_vectors}
    events = anomaly_events if isinstance(anomaly_events, dict) else {days[0]: anomaly_events}
    scored = {d: t for d, t in latents.items() if len(t)}
    versions = {str(t[MODEL_VERSION].iloc[0]) for t in scored.values()}
    if len(versions) > 1:
        raise dg.Failure(description=f"the days were scored by different versions ({', '.join(sorted(versions))}): "
                                     "score them again (latent_vectors) so that one view shows one space")
    version = versions.pop() if versions else None
    trained, regimes = _version_model(data_root, version) if version else (None, None)
    out, shown_by_day, metadata = {}, {}, {}
    for day in days:
        table, day_events = latents[day], events[day]
        if trained is None or not len(table):
            out[day] = LatentView(f"<html><body><p>{day}: no window scored.</p></body></html>", 0, 0)
            metadata[day] = {"points": 0}
            continue
        limit = max_points(trained.window_length, len(trained.sensors), config.max_points)
        shown, rows = _day_shown(data_root, day, table, day_events, trained, regimes, limit)
        # the range's page shows as many windows as one day's: each day's share of its points
        share = view_sample(len(rows), max(1, limit // len(days)), shown.score, _peaks(shown.end, day_events))
        shown_by_day[day] = (shown.take(share), day_events, len(table))
        out[day] = LatentView(view_html(shown, list(trained.sensors), f"Latent space of {day}",
                                        _sampling(len(rows), len(table), f"windows of {day}"), day_events,
                                        [f"Scored by model version {version}.", trained.code_text]),
                              len(rows), len(table))
        metadata[day] = {"points": len(rows), "megabytes": out[day].megabytes, **_day_figures(table, day_events,
                                                                                              shown, trained, day)}
    per_day(context, {d: {**m, "view": file_link(data_root.day_folder("day_latent_view", d) / VIEW_FILE)}
                      for d, m in metadata.items()})
    if len(shown_by_day) > 1:
        path = _write_range_view(data_root, shown_by_day, list(trained.sensors), version)
        context.add_output_metadata({"range_view": file_link(path)})
        context.log.info(f"wrote the view of {', '.join(shown_by_day)}: {path}")
    return out if len(days) > 1 else out[days[0]]


def _day_figures(table: pd.DataFrame, events: pd.DataFrame, shown, trained, day: str) -> dict:
    """A day page's regime shares and timeline, and its top events' readings."""
    out = {}
    if REGIME in table:
        seen = Assignment(table[REGIME].to_numpy(), table[REGIME_DISTANCE].to_numpy(), table[OFF_REGIME].to_numpy())
        out["regime_share"] = _share_table(sorted(set(seen.regime.tolist())), seen)
        out["regime_timeline"] = image(regime_timeline_png(table["window_end"], table[REGIME].to_numpy(),
                                                           table[OFF_REGIME].to_numpy(), f"Regimes, {day}"),
                                       "regime of each window over the day")
    if len(events):
        top = events.sort_values("peak_score", ascending=False).head(EVENT_PLOTS)
        out["event_readings"] = image(event_traces_png(shown, list(trained.sensors), top),
                                      "readings and reconstruction at the peaks of the top events")
    return out


def _write_range_view(data_root: DataRoot, by_day: dict, sensors: list[str], version: str):
    """One page of every day of the run: each day's share of the points."""
    shown = ViewWindows.joined([part for part, _, _ in by_day.values()])
    events = pd.concat([e for _, e, _ in by_day.values() if len(e)] or [pd.DataFrame()], ignore_index=True)
    first, last = next(iter(by_day)), list(by_day)[-1]
    total = sum(n for _, _, n in by_day.values())
    html = view_html(shown, sensors, f"Latent space of {first} to {last}",
                     _sampling(len(shown.z), total, f"windows of {len(by_day)} days"), events,
                     [f"Scored by model version {version}."])
    return write_text(data_root.catalog.range_view(first, last), html)
