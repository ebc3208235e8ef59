"""`python -m pipeline.list_days [DATA_ROOT]`: the days the data root's raw folder holds readings of, one per
line, in the day time zone the partitions use (`$PIPELINE_DAY_TIMEZONE`, else the contract's `day_timezone`):
what scripts/pipeline.sh loops over, and the ends of the range it scores. DATA_ROOT defaults to
`$PIPELINE_DATA_DIR`, else the project's `data/`; it may be an object-store URL (s3://bucket/prefix).

`python -m pipeline.list_days --outputs [DATA_ROOT]`: where the published model, the day latents and the events
are on that data root (what scripts/pipeline.sh prints at the end)."""

import sys

from pipeline.catalog import Catalog
from pipeline.contract import ContractError
from pipeline.days import DayError
from pipeline.events import EVENTS_FILE
from pipeline.formats import LATENTS_FILE, MODEL_FILE
from pipeline.ingest import IngestError
from pipeline.storage import StorageError
from pipeline.versions import PublishedStateError


def outputs(catalog: Catalog) -> str:
    try:
        model = str(catalog.versions.published_file("autoencoder", MODEL_FILE))
    except (FileNotFoundError, PublishedStateError) as exc:
        model = f"none ({exc})"
    day = catalog.day_folder("latent_vectors", "<day>")
    return (f"published model: {model}\n"
            f"day latents: {day} ({LATENTS_FILE}; read it with pipeline.catalog.Catalog(root).day)\n"
            f"events: {catalog.day_folder('anomaly_events', '<day>')} ({EVENTS_FILE})")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--outputs"]:
        print(outputs(Catalog(argv[1] if len(argv) > 1 else None)))
        return 0
    catalog = Catalog(argv[0] if argv else None)
    try:
        listing = catalog.raw_days()
    except (IngestError, ContractError, DayError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except (OSError, StorageError) as exc:  # a remote raw folder that cannot be listed or reached
        print(f"the raw folder {catalog.raw_dir} could not be read: {exc}", file=sys.stderr)
        return 1
    for warning in listing.warnings:  # a day index that disagreed with a file, a dangling link: named
        print(f"warning: {warning}", file=sys.stderr)
    print("\n".join(listing.days))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
