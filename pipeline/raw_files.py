"""Which files of the raw folder are read, and how one becomes an Arrow table, by rules stated here.

Read: every file under the raw folder that matches the pattern and whose name ends in `.csv` (optionally
compressed: `.csv.gz`, `.csv.bz2`, `.csv.zst`, `.csv.lz4`) or `.parquet`/`.pq`, except hidden ones (a name
starting with '.', or inside such a folder: `.DS_Store`, `._x.csv`, `.ipynb_checkpoints/`). Every other file
is listed with the reason it was not read, so nothing is skipped unseen. A symbolic link is read as the file
it points to; one whose target is gone (a dangling link: an unmounted share, a moved file) would be read but
cannot be: it is not a raw file, and is listed as a dangling link, naming its target, and in `dangling`, for
ingestion to fail the days it held rather than read them empty (pipeline.ingest). In a CSV, comment lines (`#`)
before the header are skipped, and rows with every field empty (`,,,,` as spreadsheets export them) are dropped
and counted; a row with some fields filled is kept, whatever it lacks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

CSV_COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")  # Arrow decompresses these by the file's extension
PARQUET_SUFFIXES = (".parquet", ".pq")
LARGE_BLOCK = 64 << 20  # bytes: Arrow's CSV block when a row is longer than its default 1 MB one
EMPTY_ROWS_KEY = b"sensor_latents.empty_rows"  # schema metadata of a read table: empty rows dropped
COMMENT_LINES_KEY = b"sensor_latents.comment_lines"  # and comment lines skipped before the header
NOT_RAW = "not a CSV (.csv, optionally .gz/.bz2/.zst/.lz4) or Parquet (.parquet, .pq) file"


class RawFileError(ValueError):
    """A raw folder or file that cannot be read as such; the message names it and the problem."""


@dataclass(frozen=True)
class RawListing:
    files: list[Path]  # the files read, in name order
    skipped: list[tuple[str, str]]  # (path relative to the raw folder, why it is not read)
    dangling: tuple[Path, ...] = ()  # links that would be read but whose target is gone (also in skipped)


def raw_kind(path: Path) -> str | None:
    """'csv', 'parquet', or None for a file that is not read."""
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(".csv") or any(name.endswith(".csv" + c) for c in CSV_COMPRESSIONS):
        return "csv"
    return None


def is_dangling(path: Path) -> bool:
    """A symbolic link whose target does not exist (or a loop of links)."""
    return path.is_symlink() and not path.exists()


def dangling_why(path: Path) -> str:
    """Why the dangling link `path` cannot be read, naming its target."""
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    where = "" if Path(target).is_absolute() else f", i.e. {Path(path).parent / target}"
    return f"a dangling symbolic link: its target {target}{where} does not exist"


def list_raw_files(raw_dir: Path, pattern: str = "**/*", known: tuple[Path, ...] = ()) -> RawListing:
    """The files to read under `raw_dir`, and every other file with the reason it is not read (`known`
    files, such as the contract, are read elsewhere and not listed). A dangling link that would be read is
    not read: it is listed as skipped, and in `dangling`."""
    raw_dir = Path(raw_dir)
    if not raw_dir.exists():
        raise RawFileError(f"raw folder {raw_dir} does not exist")
    if not raw_dir.is_dir():
        raise RawFileError(f"raw folder {raw_dir} is a file, not a folder: raw_dir names the folder that holds "
                           "the raw files (use pattern to choose among them)")
    if Path(pattern).is_absolute() or pattern.startswith(("/", "\\")):
        raise RawFileError(f"pattern {pattern!r} is an absolute path: it is a glob relative to the raw folder "
                           f"{raw_dir}, e.g. '**/*.csv' (set raw_dir to choose the folder)")
    try:
        matched = {p for p in raw_dir.glob(pattern)}
    except (ValueError, NotImplementedError) as exc:
        raise RawFileError(f"pattern {pattern!r} cannot be used under {raw_dir}: {exc}") from None
    known = {Path(k).resolve() for k in known}
    files, skipped, dangling = [], [], []
    for path in sorted(p for p in raw_dir.rglob("*") if p.is_file() or is_dangling(p)):
        rel = path.relative_to(raw_dir)
        if path.resolve() in known:
            continue
        if any(part.startswith(".") for part in rel.parts):
            skipped.append((str(rel), "hidden (a name starting with '.')"))
        elif path not in matched:
            skipped.append((str(rel), f"does not match pattern {pattern!r}"))
        elif raw_kind(path) is None:
            skipped.append((str(rel), NOT_RAW))
        elif is_dangling(path):
            skipped.append((str(rel), dangling_why(path)))
            dangling.append(path)
        else:
            files.append(path)
    if not files and dangling:
        raise RawFileError(f"no readable CSV or Parquet file under {raw_dir}: {len(dangling)} dangling symbolic "
                           f"link(s), e.g. {dangling[0].relative_to(raw_dir)}: {dangling_why(dangling[0])}")
    if not files:
        seen = f"; {len(skipped)} other file(s) there, e.g. {skipped[0][0]} ({skipped[0][1]})" if skipped else ""
        raise RawFileError(f"no CSV or Parquet file matches {pattern!r} under {raw_dir}{seen}")
    return RawListing(files, skipped, tuple(dangling))


def read_table(path: Path, separator: str) -> pa.Table:
    """The file as Arrow read it, without rows that are empty in every field; the counts of those rows and of
    leading comment lines are in the schema metadata."""
    if raw_kind(path) == "parquet":
        table, comments = pq.read_table(path), 0
    else:
        comments = _leading_comment_lines(path)
        table = _read_csv(path, separator, comments)
    names = table.column_names  # decodes the header: fails here on bytes that are not UTF-8 text
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RawFileError(f"{path}: duplicate column name(s) {dupes} in the header")
    table, empty = _without_empty_rows(table)
    metadata = {**(table.schema.metadata or {}), EMPTY_ROWS_KEY: str(empty).encode(),
                COMMENT_LINES_KEY: str(comments).encode()}
    return table.replace_schema_metadata(metadata)


def skipped_counts(table: pa.Table) -> tuple[int, int]:
    """(empty rows dropped, comment lines skipped) when the table was read."""
    meta = table.schema.metadata or {}
    return int(meta.get(EMPTY_ROWS_KEY, b"0")), int(meta.get(COMMENT_LINES_KEY, b"0"))


def _read_csv(path: Path, separator: str, comments: int) -> pa.Table:
    parse = pa_csv.ParseOptions(delimiter=separator)
    try:
        return pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(skip_rows=comments), parse_options=parse)
    except pa.ArrowInvalid as exc:
        if "straddling" not in str(exc):
            raise
    try:  # a row longer than Arrow's 1 MB block (a long text cell): read again in larger blocks
        return pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(skip_rows=comments, block_size=LARGE_BLOCK),
                               parse_options=parse)
    except pa.ArrowInvalid as exc:
        if "straddling" not in str(exc):
            raise
        raise RawFileError(f"{path}: a row is longer than {LARGE_BLOCK >> 20} MB (a huge text cell?); readings "
                           "rows are not that long: remove it or exclude the file with pattern") from None


def _leading_comment_lines(path: Path) -> int:
    """Lines starting with '#' before the header (loggers write notes there)."""
    with pa.input_stream(str(path), compression="detect") as stream:
        head = stream.read(1 << 16).decode("utf-8", errors="replace").lstrip("\ufeff")
    count = 0
    for line in head.splitlines():
        if not line.lstrip().startswith("#"):
            break
        count += 1
    return count


def _without_empty_rows(table: pa.Table) -> tuple[pa.Table, int]:
    if table.num_rows == 0 or table.num_columns == 0 or not any(c.null_count for c in table.columns):
        return table, 0
    empty = None
    for column in table.columns:
        missing = pc.is_null(column)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), False)
            missing = pc.or_(missing, blank)
        empty = missing if empty is None else pc.and_(empty, missing)
    count = int(pc.sum(empty).as_py() or 0)
    return (table.filter(pc.invert(empty)), count) if count else (table, 0)
