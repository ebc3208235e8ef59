import filecmp

import numpy as np

from pipeline.contract import load_contract
from pipeline.synthetic import REGIMES, SENSORS, generate, main
from tests.helpers import PROJECT_ROOT, SHIPPED_CONTRACT


def test_same_seed_same_readings_other_seed_other_readings():
    a, b, c = generate(days=0.5, seed=3), generate(days=0.5, seed=3), generate(days=0.5, seed=4)
    assert a.equals(b)
    assert not a[list(SENSORS)].equals(c[list(SENSORS)])


def test_readings_have_regimes_a_fault_and_stay_within_the_contract():
    frame = generate()  # the sample's settings: 4 days at 20 s
    assert set(frame["regime"]) == set(REGIMES)
    speed = frame.groupby("regime")["shaft_speed"].mean()
    assert speed["idle"] < speed["normal"] < speed["high_load"]
    n = len(frame)
    healthy, faulty, repaired = frame.iloc[: n // 3], frame.iloc[int(0.7 * n) : int(0.8 * n)], frame.iloc[-n // 10 :]
    assert faulty["vibration_z"].mean() > 2 * healthy["vibration_z"].mean()
    assert repaired["vibration_z"].mean() < 1.5 * healthy["vibration_z"].mean()
    for sensor in load_contract(SHIPPED_CONTRACT).sensors:
        assert sensor.min <= frame[sensor.name].min() and frame[sensor.name].max() <= sensor.max, sensor.name
    assert np.isfinite(frame[list(SENSORS)].to_numpy()).all()


def test_committed_sample_is_what_the_regenerate_command_writes(tmp_path):
    main(["--out", str(tmp_path)])
    shipped = sorted((PROJECT_ROOT / "data" / "raw").glob("*.csv"))
    assert [p.name for p in shipped] == sorted(p.name for p in tmp_path.glob("*.csv"))
    for p in shipped:
        assert filecmp.cmp(p, tmp_path / p.name, shallow=False), p.name
