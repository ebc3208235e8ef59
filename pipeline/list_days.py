"""`python -m pipeline.list_days [RAW_DIR]`: the days a raw folder holds readings of, one per line (what the
README's commands loop over, and the ends of the range they score)."""

import sys
from pathlib import Path

from pipeline.days import DayClock
from pipeline.ingest import IngestError, raw_days


def main(argv: list[str]) -> int:
    raw_dir = Path(argv[0]) if argv else Path("data/raw")
    timezone = argv[1] if len(argv) > 1 else "UTC"
    try:
        days = raw_days(raw_dir, clock=DayClock(timezone)).days
    except IngestError as exc:
        print(exc, file=sys.stderr)
        return 1
    print("\n".join(days))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
