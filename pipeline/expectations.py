"""The expectation suite of a contract, and a vectorised evaluation of each expectation.

Every rule is a Great Expectations 1.x expectation (class name and kwargs), so the suite is a real GX suite.
Each rule also has an exact numpy/pandas evaluation with GX's semantics (nulls ignored by range checks,
`mostly` over non-null values, duplicates counted on every copy, ...). The fast validation engine evaluates
every rule this way and hands GX only the files and expectations that failed, for GX's own report; the
test suite checks that both engines agree on every malformed file of its corpus.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.contract import Contract
from pipeline.readings import TIMESTAMP

INTERVAL = "interval_s"  # derived column: seconds since the previous reading of the same file
NUMERIC_TYPES = ["float64", "float32", "int64", "int32"]
# Windows are float32: a reading beyond its range (3.4e38) becomes infinite there, and makes the scaler's
# statistics overflow. Refused here, with the file, column and row, rather than as NaN latents later.
FLOAT32_MAX = float(np.finfo(np.float32).max)
SAMPLE_SIZE = 5


@dataclass(frozen=True, eq=False)  # compared by identity: one suite's rules are distinct objects
class Rule:
    expectation: str  # GX expectation class, e.g. "ExpectColumnValuesToBeBetween"
    column: str
    problem: str  # what a failure means, in the user's words
    kwargs: dict = field(default_factory=dict)

    @property
    def type(self) -> str:
        """GX's snake-case name, e.g. expect_column_values_to_be_between."""
        name = self.expectation
        return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")

    def to_gx(self):
        import great_expectations as gx  # imported here: GX takes seconds to import

        return getattr(gx.expectations, self.expectation)(column=self.column, **self.kwargs)


@dataclass
class Outcome:
    """One rule on one file: whether it passed, and the rows (positions in the file) that broke it."""

    success: bool
    bad_rows: int = 0
    first_bad: int | None = None  # position of the first offending row
    sample: tuple = ()
    observed: object = None  # for aggregate expectations (median, dtype)


def contract_rules(contract: Contract) -> list[Rule]:
    """The suite for one file of this contract."""
    rules = [
        Rule("ExpectColumnToExist", TIMESTAMP, "timestamp column missing"),
        Rule("ExpectColumnValuesToNotBeNull", TIMESTAMP, "readings without a timestamp"),
        Rule("ExpectColumnValuesToBeUnique", TIMESTAMP, "duplicated timestamps"),
        Rule("ExpectColumnValuesToBeIncreasing", TIMESTAMP, "timestamps not strictly increasing",
             {"strictly": True}),
    ]
    period = contract.sampling_period_s
    if period:
        rules.append(Rule("ExpectColumnMedianToBeBetween", INTERVAL,
                          f"sampling period differs from {period:g} s (median interval outside ±50%)",
                          {"min_value": 0.5 * period, "max_value": 1.5 * period}))
    if contract.on_gap == "fail" and contract.gap_s:
        rules.append(Rule("ExpectColumnValuesToBeBetween", INTERVAL,
                          f"gaps longer than {contract.gap_s:g} s (on_gap: fail)", {"max_value": contract.gap_s}))
    null_kwargs = {"mostly": 1 - contract.max_null_fraction} if contract.max_null_fraction else {}
    for s in contract.sensors:
        unit = f" {s.unit}" if s.unit else ""
        rules += [
            Rule("ExpectColumnToExist", s.name, "sensor column missing"),
            Rule("ExpectColumnValuesToBeInTypeList", s.name, "not numeric", {"type_list": NUMERIC_TYPES}),
            Rule("ExpectColumnValuesToNotBeNull", s.name,
                 "missing values" + (f" above {contract.max_null_fraction:.2%}" if null_kwargs else ""),
                 null_kwargs),
            Rule("ExpectColumnValuesToBeBetween", s.name, "infinite values or values beyond ±3.4e38 (the float32 "
                 "range of the windows)", {"min_value": -FLOAT32_MAX, "max_value": FLOAT32_MAX}),
        ]
        if s.min is not None or s.max is not None:
            lo = "-inf" if s.min is None else f"{s.min:g}"
            hi = "inf" if s.max is None else f"{s.max:g}"
            rules.append(Rule("ExpectColumnValuesToBeBetween", s.name, f"values outside [{lo}, {hi}]{unit}",
                              {"min_value": s.min, "max_value": s.max}))
    return rules


def with_intervals(part: pd.DataFrame) -> pd.DataFrame:
    """The file's readings plus the derived interval column the sampling rules look at."""
    out = part.copy(deep=False)
    out[INTERVAL] = _steps_s(part[TIMESTAMP])
    return out


def _steps_s(ts: pd.Series) -> np.ndarray:
    """Seconds since the previous value (NaN first), as `ts.diff().dt.total_seconds()` but in integer
    nanoseconds, without pandas' timedelta objects."""
    x = ts.to_numpy()
    if x.dtype != "datetime64[ns]" or ts.hasnans:
        return ts.diff().dt.total_seconds().to_numpy()
    out = np.empty(len(x))
    out[:1] = np.nan
    np.divide(np.diff(x.view(np.int64)), 1e9, out=out[1:])
    return out


def _mask_outcome(bad: np.ndarray, values: pd.Series, denominator: int, mostly: float = 1.0) -> Outcome:
    count = int(bad.sum())
    success = count == 0 or (denominator > 0 and 1 - count / denominator >= mostly)
    if count == 0:
        return Outcome(success)
    positions = np.flatnonzero(bad)
    return Outcome(success, count, int(positions[0]), tuple(values.iloc[positions[:SAMPLE_SIZE]].tolist()))


def evaluate(rule: Rule, frame: pd.DataFrame) -> Outcome:
    """The rule on one file's frame (with intervals), with GX's semantics, vectorised."""
    if rule.column not in frame.columns:  # only ExpectColumnToExist is asked about a missing column
        return Outcome(False, len(frame), 0)
    col = frame[rule.column]
    kind, kw = rule.expectation, rule.kwargs
    if kind == "ExpectColumnToExist":
        return Outcome(True)
    if kind == "ExpectColumnValuesToBeInTypeList":
        ok = str(col.dtype) in kw["type_list"]
        return Outcome(ok, 0 if ok else len(col), None if ok else 0, observed=str(col.dtype))
    if kind == "ExpectColumnMedianToBeBetween":
        median = float(col.median()) if col.notna().any() else float("nan")
        ok = kw["min_value"] <= median <= kw["max_value"]
        return Outcome(bool(ok), observed=median)
    if kind == "ExpectColumnValuesToNotBeNull":
        return _mask_outcome(col.isna().to_numpy(), col, len(col), kw.get("mostly", 1.0))
    present = col.notna().to_numpy()
    if kind == "ExpectColumnValuesToBeBetween":
        x = col.to_numpy(dtype="float64", na_value=np.nan)
        bad = np.zeros(len(x), bool)
        with np.errstate(invalid="ignore"):
            if kw.get("min_value") is not None:
                bad |= x < kw["min_value"]
            if kw.get("max_value") is not None:
                bad |= x > kw["max_value"]
        return _mask_outcome(bad & present, col, int(present.sum()), kw.get("mostly", 1.0))
    if kind == "ExpectColumnValuesToBeUnique":
        x = col.to_numpy()
        # Strictly increasing values cannot repeat: the usual case costs one comparison, not a hash table.
        if x.dtype.kind in "iufM" and present.all() and bool(np.all(x[1:] > x[:-1])):
            return Outcome(True)
        return _mask_outcome(col.duplicated(keep=False).to_numpy() & present, col, int(present.sum()))
    if kind == "ExpectColumnValuesToBeIncreasing":
        if pd.api.types.is_datetime64_any_dtype(col):
            step = _steps_s(col)
        else:
            step = col.diff().to_numpy(dtype="float64", na_value=np.nan)
        bad = (step <= 0) if kw.get("strictly") else (step < 0)
        return _mask_outcome(bad & present, col, int(present.sum()))
    raise ValueError(f"no vectorised evaluation for {kind}")
