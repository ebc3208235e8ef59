import pytest

from pipeline.contract import Contract, ContractError, infer_contract, load_contract
from tests.helpers import SHIPPED_CONTRACT


def test_shipped_contract_describes_nine_sensors_with_units_and_ranges():
    c = load_contract(SHIPPED_CONTRACT)
    assert len(c.sensors) == 9 and c.sampling_period_s == 20 and c.labels == ("regime",)
    assert all(s.unit and s.min is not None and s.max is not None for s in c.sensors)
    assert Contract.from_json(c.to_json()) == c


@pytest.mark.parametrize("text, problem", [
    ("sensors: {a: {min: 5, max: 1}}", "sensors.a: min 5.0 is greater than max 1.0"),
    ("sensors: {a: {min: low}}", "sensors.a.min: expected a number, got 'low'"),
    ("sensors: {a: {unit: V, maxx: 3}}", "sensors.a: unknown keys ['maxx']"),
    ("sensors: {}", "non-empty 'sensors'"),
    ("sampling_period_s: -1\nsensors: {a: {}}", "sampling_period_s must be positive"),
    ("sensors: [a, b", "not valid YAML"),
    ("timezone: Mars/Olympus\nsensors: {a: {}}", "timezone: unknown time zone 'Mars/Olympus'"),
    ("on_gap: ignore\nsensors: {a: {}}", "on_gap must be one of ('split', 'fail')"),
    ("max_null_fraction: 1.5\nsensors: {a: {}}", "max_null_fraction must be in [0, 1)"),
    ("sampling_period: 5\nsensors: {a: {}}", "unknown keys ['sampling_period']"),
    ("separator: ';;'\nsensors: {a: {}}", 'separator: expected one character (e.g. \';\', or "\\t" for a tab), got'),
    ("separator: 1\nsensors: {a: {}}", "separator: expected one character"),
    ("separator: ''\nsensors: {a: {}}", "separator: expected one character"),
    ("separator: '\"'\nsensors: {a: {}}", "separator: '\"' is the quote character, not a field separator"),
    ("exclude_columns: anomaly\nsensors: {a: {}}", "exclude_columns: expected a list of column names, got 'anomaly'"),
    ("exclude_columns: [1]\nsensors: {a: {}}", "exclude_columns: 1 is not text"),
])
def test_bad_contract_names_file_and_key(tmp_path, text, problem):
    path = tmp_path / "sensors.yaml"
    path.write_text(text)
    with pytest.raises(ContractError) as err:
        load_contract(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_separator_and_excluded_columns_are_read_with_their_defaults(tmp_path):
    path = tmp_path / "sensors.yaml"
    path.write_text("sensors: {a: {}}\n")
    assert load_contract(path).separator == "," and load_contract(path).exclude_columns == ()
    path.write_text("separator: ';'\nexclude_columns: [anomaly, 'NO']\nsensors: {a: {}}\n")
    c = load_contract(path)
    assert c.separator == ";" and c.exclude_columns == ("anomaly", "NO")
    assert Contract.from_json(c.to_json()) == c
    path.write_text('separator: "\\t"\nsensors: {a: {}}\n')
    assert load_contract(path).separator == "\t"


def test_inferred_contract_says_so():
    c = infer_contract(["a", "b"], ["label"], "when", 1.0)
    assert c.inferred and c.names == ["a", "b"] and c.labels == ("label",) and c.timestamp_column == "when"
    assert c.sampling_period_s == 1.0 and c.gap_s == 3.0
    assert any("inferred" in n for n in c.notes) and any("label" in n for n in c.notes)
