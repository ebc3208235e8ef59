"""`python -m pipeline.list_days [DATA_ROOT] [READ SETTINGS]`: the days a raw folder holds readings of, one per
line, in the day time zone the partitions use: what scripts/pipeline.sh loops over, and the ends of the range it
scores. DATA_ROOT defaults to `$PIPELINE_DATA_DIR`, else the project's `data/`; it may be an object-store URL
(s3://bucket/prefix). The raw folder is the data root's `raw/` unless `--raw-dir` names another.

The read settings are `raw_readings`' (pipeline.ingest.IngestSettings), unset ones the contract's or the
defaults: `--raw-dir DIR`, `--pattern GLOB`, `--contract FILE`, `--separator X`, `--timestamp-column C`,
`--timestamp-format F`, `--timestamp-unit U`, `--exclude-columns a,b`. The day time zone is
`$PIPELINE_DAY_TIMEZONE`, else the `day_timezone` of the contract the read uses (the configured one, else the
raw folder's), else UTC.

`--day-timezone`: print that day time zone instead of the days (scripts/pipeline.sh exports it as
`$PIPELINE_DAY_TIMEZONE`, so that the partitions cut days where the listing did).
`--run-config`: print the `--config-json` run config that gives `raw_readings` these settings (what every day run
of scripts/pipeline.sh gets).
`--outputs`: where the published model, the day latents and the events are on the data root (what
scripts/pipeline.sh prints at the end)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from pipeline.catalog import DAY_TIMEZONE_ENV, Catalog
from pipeline.contract import ContractError
from pipeline.days import DayClock, DayError
from pipeline.events import EVENTS_FILE
from pipeline.formats import LATENTS_FILE, MODEL_FILE
from pipeline.ingest import IngestError, IngestSettings, folder_contract
from pipeline.storage import StorageError
from pipeline.versions import PublishedStateError
from pipeline.view import VIEW_FILE

# command-line option -> raw_readings' config key (all of IngestSettings, and the folder)
READ_OPTIONS = {"--raw-dir": "raw_dir", "--pattern": "pattern", "--contract": "contract",
                "--separator": "separator", "--timestamp-column": "timestamp_column",
                "--timestamp-format": "timestamp_format", "--timestamp-unit": "timestamp_unit",
                "--exclude-columns": "exclude_columns"}


def outputs(catalog: Catalog) -> str:
    try:
        model = str(catalog.versions.published_file("autoencoder", MODEL_FILE))
    except (FileNotFoundError, PublishedStateError) as exc:
        model = f"none ({exc})"
    try:
        view = str(catalog.versions.published_file("latent_view", VIEW_FILE))
    except (FileNotFoundError, PublishedStateError) as exc:
        view = f"none ({exc})"
    day = catalog.day_folder("latent_vectors", "<day>")
    return (f"published model: {model}\n"
            f"day latents: {day} ({LATENTS_FILE}; read it with pipeline.catalog.Catalog(root).day)\n"
            f"events: {catalog.day_folder('anomaly_events', '<day>')} ({EVENTS_FILE})\n"
            f"latent views, to open in a browser: {view}; each day's in "
            f"{catalog.day_folder('day_latent_view', '<day>')} ({VIEW_FILE})")


def _columns(text: str) -> list[str]:
    """`a,b` -> ['a', 'b'] (names as written, spaces kept: SKAB has 'Volume Flow RateRMS'); '' -> []."""
    return [c for c in text.split(",") if c] if text else []


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.list_days", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_root", nargs="?", default=None,
                        help="the data root (default $PIPELINE_DATA_DIR, else data/)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--outputs", action="store_true", help="where the results are on the data root")
    what.add_argument("--day-timezone", action="store_true", help="the day time zone of the partitions")
    what.add_argument("--run-config", action="store_true", help="the raw_readings run config of these settings")
    read = parser.add_argument_group("read settings (raw_readings' config; unset: the contract's, or defaults)")
    for option, key in READ_OPTIONS.items():
        read.add_argument(option, dest=key, default=None, type=_columns if key == "exclude_columns" else str,
                          help="comma-separated column names" if key == "exclude_columns" else None)
    return parser


def read_config(args: argparse.Namespace) -> dict:
    """The read settings given, as raw_readings' config (only those given)."""
    given = {key: getattr(args, key) for key in READ_OPTIONS.values()}
    return {k: v for k, v in given.items() if v is not None}


def ingest_settings(config: dict) -> IngestSettings:
    """raw_readings' config (without its folder) as the core's settings."""
    return IngestSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k != "raw_dir"})


def run_config(config: dict) -> dict:
    return {"ops": {"raw_readings": {"config": config}}}


def day_timezone(catalog: Catalog, config: dict) -> str:
    """The partitions' day time zone for a read with `config`: $PIPELINE_DAY_TIMEZONE, else the day_timezone of
    the contract the read uses, else UTC."""
    if os.environ.get(DAY_TIMEZONE_ENV) or not ({"raw_dir", "contract"} & set(config)):
        return catalog.day_timezone()  # the data root's raw folder: as the partitions read it
    contract = folder_contract(catalog.local_raw_dir(config.get("raw_dir")), ingest_settings(config))
    return contract.day_timezone if contract else "UTC"


def _other_days(catalog: Catalog, days: list[str]) -> list[str]:
    """Validated days the data root holds that the listed raw folder does not (an earlier dataset's)."""
    listed = set(days)
    return [d for d in catalog.stored_days("validated_readings") if d not in listed]


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    catalog = Catalog(args.data_root)
    if args.outputs:
        print(outputs(catalog))
        return 0
    config = read_config(args)
    if args.run_config:
        print(json.dumps(run_config(config)))
        return 0
    raw_dir = config.get("raw_dir") or catalog.raw_dir
    try:
        timezone = day_timezone(catalog, config)
        if args.day_timezone:
            print(timezone)
            return 0
        listing = catalog.raw_days(ingest_settings(config), config.get("raw_dir"), DayClock(timezone))
    except (IngestError, ContractError, DayError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except (OSError, StorageError) as exc:  # a remote raw folder that cannot be listed or reached
        print(f"the raw folder {raw_dir} could not be read: {exc}", file=sys.stderr)
        return 1
    for warning in listing.warnings:  # a day index that disagreed with a file, a dangling link: named
        print(f"warning: {warning}", file=sys.stderr)
    if listing.unplaced:  # e.g. read with the wrong separator or timestamp column: say why, not just no days
        name, why = listing.unplaced[0]
        print(f"warning: {len(listing.unplaced)} file(s) of {raw_dir} whose days are unknown, not listed, e.g. "
              f"{name}: {why}", file=sys.stderr)
    if "raw_dir" in config:
        other = _other_days(catalog, listing.days)
        if other:
            print(f"warning: the data root {catalog.root} holds {len(other)} validated day(s) that {raw_dir} has no "
                  f"readings of ({', '.join(other[:3])}{', ...' if len(other) > 3 else ''}): training takes the "
                  "latest valid days of the data root, those included; give this dataset a data root of its own "
                  f"($PIPELINE_DATA_DIR) unless they belong to it", file=sys.stderr)
    print("\n".join(listing.days))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
