"""`python -m pipeline.list_days [DATA_ROOT]`: the days the data root's raw folder holds readings of, one per
line, in the day time zone the partitions use (`$PIPELINE_DAY_TIMEZONE`, else the contract's `day_timezone`):
what scripts/pipeline.sh loops over, and the ends of the range it scores. DATA_ROOT defaults to
`$PIPELINE_DATA_DIR`, else the project's `data/`; it may be an object-store URL (s3://bucket/prefix)."""

import sys

from pipeline.catalog import Catalog
from pipeline.contract import ContractError
from pipeline.days import DayError
from pipeline.ingest import IngestError


def main(argv: list[str]) -> int:
    catalog = Catalog(argv[0] if argv else None)
    try:
        days = catalog.raw_days().days
    except (IngestError, ContractError, DayError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:  # a remote raw folder that cannot be listed
        print(f"the raw folder {catalog.raw_dir} could not be read: {exc}", file=sys.stderr)
        return 1
    print("\n".join(days))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
