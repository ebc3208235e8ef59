"""Read raw sensor files (CSV or Parquet) into one typed table, files in time order, the source file kept.

Ingestion answers "can this file be read as readings at all": it fails on unreadable files, a missing timestamp
column, timestamps that are missing, do not parse as stated (pipeline.timestamps) or mix zones, rows out of time
order or a row far from the rest of its file (pipeline.timestamps.time_order_problem: each day takes its own
rows of a file, so such a row would otherwise vanish unseen, or stand alone on a day of its own), and text in a
sensor column. Whether the readings are *good* (columns present, ranges, nulls, order, overlap, sampling) is
validation's job, so a file missing a sensor column is read here and reported there. All timestamps are stored
as naive UTC.

Which files are read, and how (compression, comment lines, empty rows), is pipeline.raw_files' rule. The
pipeline's own column names (`source_file`, `segment`, `interval_s`, and `timestamp` unless it is the timestamp
column) cannot be sensors: a sensor of that name is refused, never overwritten.

State is believed only when it is what it claims. The day index (pipeline.days.DayIndex) is used only where its
entry is sound and matches the file; where it disagreed with a file that is said through `log`, naming the file,
and the file is indexed again, so a day's read gives the day's rows as with no index. A dangling symbolic link
(its target gone) that would be read is named wherever the folder is read, and is not read: the days it held when
last read (else the date in its name) stay listed, and reading one of them fails naming the link and its target,
as does reading the whole folder, so that no day is read empty because its file's disk is gone; with neither
known, it is reported as a file whose day is unknown. A dangling link in place of the contract is refused, rather
than the sensors inferred instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.contract import (
    CONTRACT_FILES,
    Contract,
    ContractError,
    check_separator,
    infer_contract,
    load_contract,
    with_timestamp_settings,
)
from pipeline.days import DayClock, DayFiles, DayIndex, day_fingerprint, days_of_unreadable, file_fingerprint
from pipeline.expectations import INTERVAL
from pipeline.parse_cache import ParseCache
from pipeline.raw_files import (
    RawFileError,
    RawListing,
    dangling_why,
    is_dangling,
    list_raw_files,
    raw_kind,
    read_table,
    skipped_counts,
)
from pipeline.readings import SOURCE_COLUMN, TIMESTAMP, RawFile, SensorReadings, fill, sensor_frame
from pipeline.segments import SEGMENT_COLUMN
from pipeline.timestamps import TimestampError, TimestampSettings, parse_timestamps, time_order_problem

PARSED, DAY_INDEX = "parsed_files", "day_index.json"  # under the cache folder
NO_FILES = "no files"  # the fingerprint of a day without files
RESERVED_COLUMNS = (TIMESTAMP, SOURCE_COLUMN, SEGMENT_COLUMN, INTERVAL)  # the pipeline's own columns


class IngestError(ValueError):
    """A raw file that cannot be ingested; the message names the file, the column and the problem."""


@dataclass
class _Part:
    """A file reduced to what the frame keeps: its timestamps and the columns that are, or may be, sensors."""

    path: Path
    info: RawFile
    timestamps: pa.ChunkedArray  # naive UTC, ns
    columns: dict  # name -> float64 values; without a contract, other columns as read until sensors are known
    numeric: set[str]  # columns of a numeric type (what inference calls sensors)
    first: int | None  # first reading (ns): files are ordered by it
    held: list[str] | None = None  # in a day's read, the days the whole file holds (to check the day index)
    block: np.ndarray | None = None  # the float64 columns, one row each (what `columns` views)
    block_columns: tuple[str, ...] = ()  # the block's rows, named


def _bad_values(path: Path, column: pd.Series, bad: np.ndarray, what: str) -> IngestError:
    rows = np.flatnonzero(bad)
    samples = ", ".join(repr(v) for v in column.iloc[rows[:3]])
    return IngestError(f"{path}: column {column.name!r}: {len(rows)} value(s) are not {what}, e.g. {samples} "
                       f"(first at data row {rows[0] + 1})")


def _parse_numbers(path: Path, column: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype="float64", na_value=np.nan)
    numbers = pd.to_numeric(column, errors="coerce")
    bad = (numbers.isna() & column.notna()).to_numpy()
    if bad.any():
        raise _bad_values(path, column, bad, "numbers")
    return numbers.to_numpy(dtype="float64", na_value=np.nan)


def _is_numeric(kind: pa.DataType) -> bool:
    """Numeric as pandas sees the column (bool included), the test for an inferred sensor."""
    try:
        return pd.api.types.is_numeric_dtype(kind.to_pandas_dtype())
    except NotImplementedError:  # e.g. dictionary-encoded text
        return False


def _as_float64(path: Path, name: str, column: pa.ChunkedArray | np.ndarray) -> pa.ChunkedArray | np.ndarray:
    """A sensor column as float64: numeric types cast by Arrow (no copy for float64), text parsed by pandas."""
    if isinstance(column, np.ndarray) or column.type == pa.float64():
        return column
    if _is_numeric(column.type):
        return column.cast(pa.float64(), safe=False)  # like numpy: large integers may round
    return _parse_numbers(path, column.to_pandas().rename(name))


def _parse(path: Path, separator: str, timestamps: TimestampSettings) -> pa.Table:
    """The file as read, its timestamp column parsed to naive UTC (what the parse cache keeps)."""
    table = read_table(path, separator)
    ts_column = timestamps.column
    if ts_column not in table.column_names:
        raise IngestError(f"{path}: no timestamp column {ts_column!r} (columns: {table.column_names[:10]}); "
                          f"check timestamp_column and the separator {separator!r}")
    if table.num_rows == 0:
        empty = skipped_counts(table)[0]
        raise IngestError(f"{path}: no data rows ({f'only {empty} empty row(s)' if empty else 'header only'})")
    try:
        parsed = parse_timestamps(table.column(ts_column), timestamps)
    except TimestampError as exc:
        raise IngestError(f"{path}: {exc}") from None
    return table.set_column(table.column_names.index(ts_column), ts_column, parsed)


def _row_label(path: Path, table: pa.Table, row: int) -> str:
    """A data row (0-based `row`) as the user finds it: its number among the data rows and, in a CSV, its line."""
    if raw_kind(path) != "csv":
        return f"row {row + 1}"
    empty, comments = skipped_counts(table)
    line = comments + 2 + row  # comment lines, the header, then the data rows
    return f"data row {row + 1} (line {line}{' or later: empty rows were dropped' if empty else ''})"


def _check_time_order(path: Path, table: pa.Table, timestamps: TimestampSettings) -> None:
    """Refuse a file whose rows go back in time or hold a row far from the rest, naming the row."""
    problem = time_order_problem(table.column(timestamps.column).cast(pa.int64()).to_numpy())
    if problem is None:
        return
    row, what = problem
    hint = ""
    if timestamps.ambiguous in ("earliest", "latest") and timestamps.timezone != "UTC":
        hint = (f" (ambiguous_times {timestamps.ambiguous!r} reads both passes of an hour the clocks repeat as one: "
                "'infer' reads them in recorded order)")
    raise IngestError(f"{path}: column {timestamps.column!r}: {_row_label(path, table, row)}: {what}{hint}")


def _reduce(path: Path, name: str, handed: list[pa.Table], ts_column: str, sensors: list[str] | None,
            non_sensors: set[str]) -> _Part:
    """Keep the timestamps and the sensor columns, as float64 in one exactly sized block (Arrow's buffers
    carry spare capacity); with `sensors` unknown (no contract), every column that is not a timestamp or
    label: numeric ones in the block, others as read until the sensors are known. The table is handed over in
    `handed` (emptied here), so that each column is freed once copied: the peak is the table, not the table
    and its copy."""
    table = handed.pop()
    names, rows = table.column_names, table.num_rows
    numeric = {c for c in names if _is_numeric(table.schema.field(c).type)}
    keep = [s for s in sensors if s in names] if sensors is not None else [c for c in names if c not in non_sensors]
    floats = [c for c in keep if sensors is not None or c in numeric]
    info = RawFile(name, rows, tuple(names), skipped_counts(table)[0])
    timestamps = table.column(ts_column)
    columns = {c: table.column(c) for c in keep}
    del table  # from here the columns are held only by `columns`
    block = np.empty((len(floats), rows))  # pages become resident as they are filled
    for j, c in enumerate(floats):
        fill(block[j], _as_float64(path, c, columns.pop(c)))
        pa.default_memory_pool().release_unused()  # the column's buffer back to the system, not Arrow's pool
    columns.update({c: block[j] for j, c in enumerate(floats)})
    return _Part(path, info, timestamps, columns, numeric, pc.min(timestamps).value, block=block,
                 block_columns=tuple(floats))


def _median_interval_s(timestamps: list[pa.ChunkedArray]) -> float | None:
    diffs = [np.diff(t.to_numpy().astype("int64")) for t in timestamps if len(t) > 1]
    diffs = np.concatenate(diffs) if diffs else np.array([])
    diffs = diffs[diffs > 0]
    return float(np.median(diffs)) / 1e9 if len(diffs) else None


def _assemble(parts: list[_Part], sensors: list[str]) -> tuple[pd.DataFrame, tuple[RawFile, ...]]:
    """One frame, files in the order of their first reading, rows in their recorded order (so validation can
    see it). Filled file by file into preallocated columns, each file dropped once copied: the peak is about
    one copy of the frame plus one file."""
    order = sorted(parts, key=lambda p: (p.first is None, p.first or 0, p.info.name))
    parts.clear()
    if len(order) == 1 and order[0].block_columns == tuple(sensors):  # one file (a day's, often): its block is
        part = order[0]                                                # the frame's, not copied again
        source = pd.Categorical.from_codes(np.zeros(part.info.rows, np.int8), categories=[part.info.name])
        stamps = np.empty(part.info.rows, "datetime64[ns]")
        fill(stamps, part.timestamps)
        return sensor_frame(part.block, sensors, {TIMESTAMP: stamps, SOURCE_COLUMN: source},
                            [TIMESTAMP, *sensors, SOURCE_COLUMN]), (part.info,)
    n = sum(p.info.rows for p in order)
    values, stamps = np.empty((len(sensors), n)), np.empty(n, "datetime64[ns]")
    code = np.int8 if len(order) < 2**7 else np.int16 if len(order) < 2**15 else np.int32
    codes = np.repeat(np.arange(len(order), dtype=code), [p.info.rows for p in order])
    infos, pos = tuple(p.info for p in order), 0
    for i in range(len(order)):
        part, order[i] = order[i], None
        end = pos + part.info.rows
        fill(stamps[pos:end], part.timestamps)
        for j, s in enumerate(sensors):  # a missing sensor stays empty here; validation reports it by file
            column = part.columns.pop(s, None)
            if column is None:
                values[j, pos:end] = np.nan
            else:
                fill(values[j, pos:end], _as_float64(part.path, s, column))
        pos, part = end, None
        pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed memory unless asked
    source = pd.Categorical.from_codes(codes, categories=[f.name for f in infos])
    return sensor_frame(values, sensors, {TIMESTAMP: stamps, SOURCE_COLUMN: source},
                        [TIMESTAMP, *sensors, SOURCE_COLUMN]), infos


def _contract(raw_dir: Path, configured: Path | None) -> Contract | None:
    """The configured contract (which must exist), else sensors.yaml or sensors.yml in the raw folder; one of
    those that is a dangling link is refused, rather than the sensors inferred in its place."""
    if configured is not None:
        return load_contract(configured)
    for name in CONTRACT_FILES:
        if is_dangling(raw_dir / name):
            raise ContractError(f"{raw_dir / name}: {dangling_why(raw_dir / name)}: the contract cannot be read; "
                                "restore its target (or remove the link to have the sensors inferred)")
    found = [raw_dir / n for n in CONTRACT_FILES if (raw_dir / n).is_file()]
    if len(found) > 1:
        raise ContractError(f"{raw_dir}: both {found[0].name} and {found[1].name}: keep one contract")
    return load_contract(found[0]) if found else None


def _refuse_reserved(contract: Contract, parts: list[_Part] = ()) -> None:
    """A sensor may not take one of the pipeline's own column names; named by the contract file, or, for
    inferred sensors, by the first file that has such a column."""
    taken = [s for s in contract.names if s in RESERVED_COLUMNS]
    if not taken:
        return
    if contract.inferred:
        where = next(str(p.path) for p in parts if taken[0] in p.info.columns)
        fix = "rename the column in the files, or list it in exclude_columns so that it is not a sensor"
    else:
        where, fix = contract.source, "rename the sensor in the contract and the files"
    raise IngestError(f"{where}: sensor(s) {taken} have a name the pipeline uses for its own columns "
                      f"{list(RESERVED_COLUMNS)}: {fix}")


@dataclass(frozen=True)
class IngestSettings:
    """How a raw folder is read (the defaults of the `raw_readings` asset, whose folder is set apart)."""

    pattern: str = "**/*"  # glob relative to the raw folder
    contract: str | None = None  # the contract's path (must exist); None: sensors.yaml/.yml there, else inferred
    timestamp_column: str | None = None  # None: the contract's, else 'timestamp'
    timestamp_format: str | None = None  # None: the contract's, else ISO 8601 only
    timestamp_unit: str | None = None  # None: the contract's (numbers are refused without one)
    separator: str | None = None  # None: the contract's, else ','
    exclude_columns: tuple[str, ...] = ()  # columns that are not sensors (labels, ids), besides the contract's


def folder_contract(raw_dir: Path, settings: IngestSettings = IngestSettings()) -> Contract | None:
    """The contract a read of the folder with `settings` uses: the configured one, else sensors.yaml or
    sensors.yml in the folder; None when the sensors are to be inferred."""
    return _contract(Path(raw_dir), Path(settings.contract) if settings.contract else None)


def _folder(raw_dir: Path, settings: IngestSettings):
    """What reading a folder starts from: the files to read (and those not), its contract (None when the
    sensors are to be inferred), the contract with the configured timestamp settings and separator (the
    configured one, else the contract's), and the timestamp settings."""
    contract_path = Path(settings.contract) if settings.contract else None
    try:
        listing = list_raw_files(raw_dir, settings.pattern, known=(*(raw_dir / n for n in CONTRACT_FILES),
                                                                   *([contract_path] if contract_path else [])))
    except RawFileError as exc:
        raise IngestError(str(exc)) from None
    contract = _contract(raw_dir, contract_path)
    base = with_timestamp_settings(contract or Contract(sensors=(), source="inferred"), settings.timestamp_column,
                                   settings.timestamp_format, settings.timestamp_unit)
    try:  # the run config's separator, else the contract's, else ','
        given = settings.separator if settings.separator is not None else base.separator
        base = replace(base, separator=check_separator(given, "separator"))
    except ValueError as exc:
        raise IngestError(str(exc)) from None
    try:
        timestamps = TimestampSettings(base.timestamp_column, base.timezone, base.timestamp_format,
                                       base.timestamp_unit, base.ambiguous_times)
    except TimestampError as exc:
        raise IngestError(f"timestamp settings: {exc}") from None
    return listing, contract, base, timestamps


def read_raw_files(raw_dir: Path, settings: IngestSettings = IngestSettings(), cache_dir: Path | None = None,
                   log=lambda msg: None, day: str | None = None, clock: DayClock | None = None) -> SensorReadings:
    """All matching files as one table, and the contract; with `day`, only the readings of that day (of the
    files that hold some, found through the day index). The timestamp settings and the separator, where given,
    override the contract's; excluded columns add to the contract's. With `cache_dir`, files unchanged since an
    earlier read are taken from the parse cache instead of being parsed again. Files not read are logged and
    listed on the result; a day's readings carry the fingerprint of its files. A day-index entry that disagrees
    with its file is said and not used (the day's rows are those read with no index); a dangling link among the
    day's files, or anywhere in the folder when it is read whole, fails the read naming it (IngestError), and is
    listed as not read on other days."""
    raw_dir = Path(raw_dir)
    timestamp_format, timestamp_unit = settings.timestamp_format, settings.timestamp_unit
    listing, contract, base, timestamps = _folder(raw_dir, settings)
    separator = base.separator  # the configured one, else the contract's
    # the contract's excluded columns and the configured ones: a column either names is not a sensor
    exclude_columns = tuple(dict.fromkeys([*(contract.exclude_columns if contract else ()),
                                           *settings.exclude_columns]))
    for name, why in listing.skipped:
        log(f"not read: {name}: {why}")
    contract = base if contract else None
    if contract is not None:
        _refuse_reserved(contract)  # before any file is parsed
    non_sensors = {timestamps.column, *exclude_columns, *(contract.labels if contract else ())}

    cache = ParseCache(Path(cache_dir) / PARSED if cache_dir else None)
    files, skipped, fingerprint, parts = listing.files, tuple(listing.skipped), None, []
    if day is None:
        if listing.dangling:  # the folder cannot be read whole: its readings there are missing
            raise IngestError(_dangling_error(listing.dangling[0]))
        for path in files:
            parts.append(_read_one(path, raw_dir, separator, timestamps, cache, contract, non_sensors, log))
            pa.default_memory_pool().release_unused()
    else:
        clock = clock or DayClock()
        parts, by_day = _read_day(raw_dir, listing, day, separator, timestamps, cache, cache_dir, clock, contract,
                                  non_sensors, log)
        named = {name for name, _ in skipped}
        skipped = (*skipped, *(u for u in by_day.unplaced if u[0] not in named))
        # taken before the files are read: a file changed meanwhile makes the next night read the day again
        fingerprint = by_day.fingerprints.get(day, NO_FILES)
        if not parts:
            log(f"no readings on {day} ({clock.timezone}) in {raw_dir}")
            empty = _no_readings(contract, timestamps.column, skipped)
            empty.fingerprint = fingerprint
            return empty
    if day is None:
        cache.prune()  # a day's read uses a few entries: it cannot tell which of the others are stale
    if cache.hits:
        log(f"{cache.hits} of {len(listing.files)} file(s) taken from the parse cache: parsed before (when the "
            "days were listed, or a day was read) and unchanged since")
    if cache.problem:
        log(f"the parse cache could not be written ({cache.problem}): files will be parsed again next time")

    if contract is None:
        columns = list(dict.fromkeys(c for p in parts for c in p.info.columns if c not in non_sensors))
        numeric = [c for c in columns if any(c in p.numeric for p in parts)]
        period = _median_interval_s([p.timestamps for p in parts])
        contract = infer_contract(numeric, [c for c in columns if c not in numeric], timestamps.column, period)
        contract = with_timestamp_settings(contract, None, timestamp_format, timestamp_unit)
    # Excluded columns are labels too: known, not sensors, never reported as unexpected. The readings' contract
    # says how the files were read: the separator and the columns excluded.
    contract = replace(contract, labels=tuple(dict.fromkeys([*contract.labels, *exclude_columns])),
                       separator=separator, exclude_columns=exclude_columns)
    if not contract.sensors:
        raise IngestError(f"{raw_dir}: no sensor columns (no numeric column besides {sorted(non_sensors)})")
    _refuse_reserved(contract, parts)
    frame, infos = _assemble(parts, contract.names)
    readings = SensorReadings(frame, contract, infos, skipped_files=tuple(skipped))
    readings.fingerprint = fingerprint
    return readings


def _read_day(raw_dir: Path, listing: RawListing, day: str, separator: str, timestamps: TimestampSettings,
              cache: ParseCache, cache_dir: Path | None, clock: DayClock, contract: Contract | None,
              non_sensors: set[str], log) -> tuple[list[_Part], DayFiles]:
    """The day's files, each reduced to its readings of `day` (none when no file holds any), and the listing
    they were found by. Each file read is checked against the days the listing placed it on: a file whose
    fingerprint is the one indexed but whose readings fall on other days (rewritten under an unchanged size and
    modification time, with its parse cache gone) shows the day index cannot be trusted for the folder, so
    every file is indexed again from its readings, as with no index, and the day read from that listing. A file
    holding no readings of the day (changed since it was listed) is left out of it, and said."""
    rows_between = clock.bounds(day)
    for verify in (False, True):
        by_day = _files_by_day(raw_dir, listing, separator, timestamps, cache, cache_dir, clock, log, verify)
        parts = []
        for path in by_day.of(day):
            parts.append(_read_one(path, raw_dir, separator, timestamps, cache, contract, non_sensors, log,
                                   rows_between, clock))
            pa.default_memory_pool().release_unused()
        misplaced = [p for p in parts if _misplaced(p, by_day)]
        if verify or not misplaced:
            break
        name, (_, placed) = misplaced[0].info.name, by_day.placed[misplaced[0].info.name]
        log(f"the day index disagreed with {name}: it lists it on {_days_text(placed)}, but its readings fall on "
            f"{_days_text(misplaced[0].held)} under the size and modification time indexed: every file of "
            f"{raw_dir} is indexed again from its readings")
    for part in parts:
        if not part.info.rows:
            log(f"{part.info.name} holds no readings on {day} (changed since the day's files were listed?): left "
                "out of the day")
    return [p for p in parts if p.info.rows], by_day


def _misplaced(part: _Part, by_day: DayFiles) -> bool:
    """Whether a file read for a day holds other days than the listing placed it on, though unchanged since."""
    fingerprint, placed = by_day.placed.get(part.info.name, (None, ()))
    if part.held is None or tuple(part.held) == placed:
        return False
    try:
        return file_fingerprint(part.path) == fingerprint
    except OSError:  # gone meanwhile: a change, not the index's fault
        return False


def _days_text(days) -> str:
    return ", ".join(days) if days else "no day"


def _dangling_error(path: Path) -> str:
    return (f"{path}: {dangling_why(path)}: the readings it held cannot be read; restore its target (a share or "
            "disk not mounted?), or remove the link if those readings are gone for good")


def _parsed(path: Path, raw_dir: Path, separator: str, timestamps: TimestampSettings, cache: ParseCache,
            log) -> pa.Table:
    """One file as parsed, from the parse cache when unchanged since it was parsed."""
    key = cache.key(path, (separator, timestamps))
    table = cache.get(key)
    if table is not None:
        _check_time_order(path, table, timestamps)  # an entry may predate the rule
    else:
        table = _parse(path, separator, timestamps)
        _check_time_order(path, table, timestamps)  # only files that parse cleanly are cached
        cache.put(key, table)
        empty, comments = skipped_counts(table)
        skipped = "".join([f"; skipped {comments} comment line(s)" if comments else "",
                           f"; dropped {empty} empty row(s)" if empty else ""])
        log(f"read {path.relative_to(raw_dir)}: {table.num_rows} rows, {table.num_columns} columns{skipped}")
    return table


def _read_one(path: Path, raw_dir: Path, separator: str, timestamps: TimestampSettings, cache: ParseCache,
              contract: Contract | None, non_sensors: set[str], log,
              rows_between: tuple[int, int] | None = None, clock: DayClock | None = None) -> _Part:
    """One file, parsed (or taken from the parse cache) and reduced to what the frame keeps; with
    `rows_between` ([start, end) in naive UTC ns), only its readings in that time, and with `clock` the days
    the whole file holds noted on the part. A dangling link is refused, naming its target."""
    name = str(path.relative_to(raw_dir))
    if is_dangling(path):
        raise IngestError(_dangling_error(path))
    try:
        table = _parsed(path, raw_dir, separator, timestamps, cache, log)
        held = None
        if rows_between is not None:
            ts = table.column(timestamps.column).cast(pa.int64()).to_numpy()
            held = clock.days_of(ts) if clock is not None else None
            # a file's rows never go back in time (_check_time_order): the day's rows are one slice of them, taken
            # without a copy (a filtered copy of a 100 Hz day was another ~800 MB at the peak of the read)
            lo, hi = np.searchsorted(ts, rows_between, side="left")
            table, ts = table.slice(lo, hi - lo), None
        handed, table = [table], None  # _reduce frees its columns as it copies them
        part = _reduce(path, name, handed, timestamps.column, contract.names if contract else None, non_sensors)
        part.held = held
        return part
    except (IngestError, RawFileError) as exc:
        raise IngestError(str(exc)) from None
    except (pa.ArrowException, OSError, ValueError) as exc:  # ValueError covers UnicodeDecodeError
        raise IngestError(f"{path}: cannot be read ({str(exc).strip().splitlines()[0]})") from None


def _no_readings(contract: Contract | None, ts_column: str, skipped) -> SensorReadings:
    """An empty day: no rows, the contract's sensors (none when they would have been inferred)."""
    contract = contract or Contract(sensors=(), source="inferred", timestamp_column=ts_column)
    frame = sensor_frame(np.empty((len(contract.names), 0)), contract.names,
                         {TIMESTAMP: np.empty(0, "datetime64[ns]"), SOURCE_COLUMN: pd.Categorical([])},
                         [TIMESTAMP, *contract.names, SOURCE_COLUMN])
    return SensorReadings(frame, contract, (), skipped_files=tuple(skipped))


def _files_by_day(raw_dir: Path, listing: RawListing, separator: str, timestamps: TimestampSettings,
                  cache: ParseCache, cache_dir: Path | None, clock: DayClock, log, verify: bool = False) -> DayFiles:
    """The days each file holds: from the day index for files unchanged since they were indexed, where its
    entry is sound (pipeline.days.DayIndex), else from their timestamps (parsed once, into the parse cache,
    where the day's read then finds them); with `verify`, every file from its timestamps, the index only
    compared with them. Where the index disagreed with a file (an entry edited, damaged, naming another file,
    or listing days the file does not hold) that is logged, naming the file, and the file is indexed again.
    A file that cannot be read, or is refused (rows out of time order, a row far from the rest), adds none of
    its timestamps' days: it is placed on the days it held when last read, else the date in its name, where
    that day's read fails with the file's error; with neither, it is listed as unplaced. So is a dangling link,
    whose day's read fails naming it and its target."""
    index = DayIndex(Path(cache_dir) / DAY_INDEX if cache_dir else None)
    settings = repr((separator, timestamps, clock.timezone))
    by_day: dict[str, list[Path]] = {}
    prints: dict[str, dict[str, str]] = {}
    placed: dict[str, tuple[str, tuple[str, ...]]] = {}
    unplaced, said = [], []

    def say(message: str) -> None:
        said.append(message)
        log(message)

    def place(path: Path, name: str, fingerprint: str, days: list[str]) -> None:
        placed[name] = (fingerprint, tuple(days))
        for day in days:
            by_day.setdefault(day, []).append(path)
            prints.setdefault(day, {})[name] = fingerprint

    for problem in index.problems:
        say(problem)
    for path in listing.files:
        name, fingerprint = str(path.relative_to(raw_dir)), file_fingerprint(path)
        key = DayIndex.key(name, fingerprint, settings)
        found = index.lookup(key, name, fingerprint, settings)
        days = None if verify else found.days
        if days is None:
            try:
                ns = _parsed(path, raw_dir, separator, timestamps, cache, log).column(timestamps.column)
                days = clock.days_of(ns.cast(pa.int64()).to_numpy())
            except (IngestError, RawFileError, pa.ArrowException, OSError, ValueError) as exc:
                # Its days are unknown: it is reported on the days it held before (or its name says), where
                # reading it fails that day alone with the file's error.
                if found.fault:
                    say(f"the day index disagreed with {name}: {found.fault}; not used (the file cannot be indexed "
                        "again: its timestamps cannot be read or are refused)")
                days = days_of_unreadable(name, index.last_days.get(name))
                if not days:
                    unplaced.append((name, str(exc).splitlines()[0]))
                place(path, name, fingerprint, days)
                continue
            index.put(key, name, fingerprint, settings, days)
            _say_disagreement(say, name, found, days)
        if days:
            index.last_days[name] = days
        place(path, name, fingerprint, days)
    for path in listing.dangling:
        name, why = str(path.relative_to(raw_dir)), dangling_why(path)
        days = days_of_unreadable(name, index.last_days.get(name))
        place(path, name, f"dangling: {why}", days)
        if days:
            say(f"{name} is {why}: it stays on {_days_text(days)}, whose ingestion fails until the target is "
                "back or the link removed")
        else:
            unplaced.append((name, why))
            say(f"not read: {name}: {why}, and the day it held is unknown")
    index.save()
    if index.problem:
        log(f"the day index could not be written ({index.problem}): files will be indexed again next time")
    for name, why in unplaced:
        if not why.startswith("a dangling symbolic link"):
            log(f"not read: {name}: its timestamps cannot be read or are refused, so its day is unknown ({why})")
    return DayFiles(by_day, {d: day_fingerprint(p) for d, p in prints.items()}, tuple(unplaced), placed,
                    tuple(said))


def _say_disagreement(say, name: str, found, days: list[str]) -> None:
    """Say where the day index's entry for `name` (`found`, not used) disagreed with the file's `days`."""
    differs = found.claimed is not None and found.claimed != days
    if found.fault:
        why = found.fault
    elif differs and found.days is not None:  # a sound entry, checked against the file's readings
        why = "its entry lists other days than the file's readings, under the size and modification time indexed"
    elif differs:
        why = "its entry, of an older form, lists other days than the file's readings"
    else:
        return
    claimed = f"; it claimed {_days_text(found.claimed)}" if differs else ""
    say(f"the day index disagreed with {name}: {why}{claimed}; not used: the file was indexed again from its "
        f"readings, which fall on {_days_text(days)}")


def raw_days(raw_dir: Path, settings: IngestSettings = IngestSettings(), cache_dir: Path | None = None,
             clock: DayClock | None = None, log=lambda msg: None) -> DayFiles:
    """The days the raw folder holds readings of, each with its files and fingerprint. Problems of the listing
    (a day index that disagreed with a file, a dangling link: see `_files_by_day`) are logged, naming the
    file, and kept on the result's `warnings`."""
    raw_dir = Path(raw_dir)
    listing, _, base, timestamps = _folder(raw_dir, settings)
    cache = ParseCache(Path(cache_dir) / PARSED if cache_dir else None)
    return _files_by_day(raw_dir, listing, base.separator, timestamps, cache, cache_dir, clock or DayClock(),
                         log)
