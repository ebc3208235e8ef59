"""What the assets attach to their materialisations: tables, inline plots, and the asset graph conventions.

Code versions: every asset passes `code_version=` a short constant of its module (`CODE_VERSION`). Bump the
constant whenever a change alters what the asset computes (not for refactors, logs or metadata): the UI then
marks the asset, and everything below it, as stale until it is materialised again.
"""

import dagster as dg
import pandas as pd

from pipeline.plots import png_markdown

OWNERS = ["team:sensor-analytics"]
# Ingestion and validation run one day per run, so a bad day fails alone (a run over a range fails as a whole);
# scoring runs a range in one run (one model load).
ONE_DAY_PER_RUN = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
RANGE_IN_ONE_RUN = dg.BackfillPolicy.single_run()
GROUP = "latent_pipeline"


def stage_tags(stage: str) -> dict[str, str]:
    """Tags shown on the asset and filterable in the asset catalogue."""
    return {"stage": stage}


def frame_table(frame: pd.DataFrame) -> dg.MetadataValue:
    """A DataFrame as a table in the UI (numbers rounded for reading)."""
    frame = frame.round(6)
    kinds = {"b": "bool", "i": "int", "f": "float"}
    return dg.MetadataValue.table(
        records=[dg.TableRecord(row) for row in frame.to_dict("records")],
        schema=dg.TableSchema(columns=[dg.TableColumn(c, kinds.get(t.kind, "string"))
                                       for c, t in frame.dtypes.items()]),
    )


def per_day(context: dg.AssetExecutionContext, by_day: dict[str, dict]) -> None:
    """Each day of the run gets its own figures on its own materialisation. Metadata added to the output is
    copied onto every day of a range run (a day's page would show the range's totals and the last day's path),
    so a range asset puts everything a day shows here, keyed by its partition."""
    for day, metadata in by_day.items():
        context.add_asset_metadata({"day": day, **metadata}, partition_key=day)


def image(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG shown inline on the asset page (markdown with a data URI)."""
    return dg.MetadataValue.md(png_markdown(png, alt))


def file_link(path) -> dg.MetadataValue:
    """A file the UI links to: a file:// URL for a local file (the browser opens it from this machine), the
    path otherwise."""
    text = str(path)
    return dg.MetadataValue.url("file://" + text) if text.startswith("/") else dg.MetadataValue.path(text)
