import numpy as np
import pytest

from pipeline.windows import (
    array_chunks,
    fit_scaler_chunks,
    gather_windows,
    index_windows,
    make_training_windows,
    window_view,
)


def series(n=200, c=3):
    return np.arange(n * c, dtype=np.float64).reshape(n, c)


def test_split_is_by_time_and_no_window_straddles_the_boundary():
    s = index_windows(np.array([[0, 200]]), 10, 1, 0.25)
    assert s.split_row == 150
    assert (s.train_starts + 10 <= 150).all() and (s.validation_starts >= 150).all()
    assert len(s.train_starts) == 141 and len(s.validation_starts) == 41


def test_scaler_is_fit_on_the_training_span_only():
    values = np.random.default_rng(0).normal(5.0, 2.0, (1000, 2))
    spoiled = values.copy()
    spoiled[800:] = 1e6  # validation span
    a = make_training_windows(values, np.arange(1000), ["a", "b"], 20, 1, 0.2)
    b = make_training_windows(spoiled, np.arange(1000), ["a", "b"], 20, 1, 0.2)
    assert a.scaler == b.scaler
    assert np.allclose(a.values[:800].mean(axis=0), 0, atol=1e-5)
    assert np.allclose(a.values[:800].std(axis=0), 1, atol=1e-4)


def test_windows_are_counted_exactly_without_listing_them():
    rng = np.random.default_rng(3)
    for _ in range(200):
        cuts = np.unique(rng.integers(1, 300, rng.integers(0, 6)))
        edges = np.r_[0, cuts, 300]
        bounds = np.c_[edges[:-1], edges[1:]]
        length, stride, fraction = int(rng.integers(2, 40)), int(rng.integers(1, 9)), float(rng.uniform(0.05, 0.6))
        try:
            s = index_windows(bounds, length, stride, fraction)
        except ValueError:
            continue
        assert s.counts == (len(s.train_starts), len(s.validation_starts))
        everything = make_training_windows(series(300), np.arange(300), ["a", "b", "c"], length, stride,
                                           fraction, segments=bounds)
        assert everything.index.per_segment().sum() == len(everything.index.starts)
        assert set(s.train_starts) | set(s.validation_starts) <= set(everything.index.starts)


def test_scaling_streamed_in_chunks_equals_scaling_at_once():
    values = np.random.default_rng(1).normal([5.0, -300.0, 1e4], [2.0, 40.0, 1.0], (10_007, 3))
    at_once = make_training_windows(values, np.arange(10_007), ["a", "b", "c"], 20, 1, 0.3)
    chunked = make_training_windows(array_chunks(values, rows=999), np.arange(10_007), ["a", "b", "c"], 20, 1, 0.3)
    train = values[: at_once.index.split_row]
    np.testing.assert_allclose(at_once.scaler.mean, train.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(chunked.scaler.std, train.std(axis=0), rtol=1e-9)
    assert at_once.values.dtype == np.float32
    np.testing.assert_allclose(chunked.values, at_once.values, atol=1e-6)
    np.testing.assert_allclose(at_once.values, ((values - train.mean(0)) / train.std(0)), atol=1e-5)


def test_constant_sensor_is_centred_not_divided_by_zero():
    values = np.c_[np.ones(100) * 7, np.arange(100.0)]
    scaler = fit_scaler_chunks(array_chunks(values), len(values), "zscore")
    assert scaler.std[0] == 1.0 and np.isfinite(scaler.apply(values)).all()
    assert fit_scaler_chunks(array_chunks(values), len(values), "none").apply(values)[5, 1] == 5


def test_statistics_that_are_not_finite_are_refused_not_used():
    values = np.c_[np.arange(100.0), np.arange(100.0)]
    values[10, 1] = 1e200  # its square overflows: the spread would be infinite and the sensor look constant
    with pytest.raises(ValueError, match="cannot scale b: the mean or spread of the training span is not finite"):
        make_training_windows(values, np.arange(100), ["a", "b"], 10)
    with pytest.raises(ValueError, match="a reading without a timestamp reached windowing"):
        make_training_windows(values[:, :1], np.r_[np.arange(99), -2**63].astype("datetime64[ns]"), ["a"], 10)


def test_windows_are_a_view_and_batches_are_exact():
    values = series()
    view = window_view(values, 10)
    assert view.shape == (191, 10, 3) and np.shares_memory(view, values)
    batch = gather_windows(values, np.array([0, 57]), 10)
    assert batch.dtype == np.float32 and batch.shape == (2, 10, 3)
    assert np.array_equal(batch[1], values[57:67])


def test_windows_stay_inside_segments_and_count_per_segment():
    bounds = np.array([[0, 50], [50, 58], [58, 200]])  # the middle segment is shorter than a window
    w = make_training_windows(series(), np.arange(200), ["a", "b", "c"], window_length=10, stride=1,
                              validation_fraction=0.2, segments=bounds)
    assert list(w.index.per_segment()) == [41, 0, 133]
    for lo, hi in bounds:
        inside = w.index.starts[(w.index.starts >= lo) & (w.index.starts < hi)]
        assert (inside + 10 <= hi).all()
    assert w.summary()["segments_too_short"] == 1


def test_stride_and_window_index():
    w = make_training_windows(series(100), np.arange(100), ["a", "b", "c"], window_length=10, stride=5,
                              validation_fraction=0.2)
    assert list(w.index.starts[:3]) == [0, 5, 10] and w.index.starts[-1] == 90
    assert w.summary()["windows"] == 19


@pytest.mark.parametrize("kwargs, problem", [
    ({"window_length": 150}, "too few rows for windows of 150 rows: 100 rows in 1 continuous segment"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"window_length": 1}, "window_length"),
    ({"stride": 0}, "stride"),
    ({"scaling": "minmax"}, "scaling"),
])
def test_bad_window_settings_are_explained(kwargs, problem):
    args = {"window_length": 10, "stride": 1, "validation_fraction": 0.2, "scaling": "zscore", **kwargs}
    with pytest.raises(ValueError, match=problem):
        make_training_windows(series(100), np.arange(100), ["a", "b", "c"], **args)


def test_windows_found_by_rank_are_the_listed_ones_without_listing_them():
    index = index_windows(np.array([[0, 100], [100, 103], [103, 400], [410, 700]]), 12, 5, 0.3)
    for part, listed in (("all", index.starts), ("train", index.train_starts),
                         ("validation", index.validation_starts)):
        assert index.count(part) == len(listed)
        np.testing.assert_array_equal(index.nth(np.arange(len(listed)), part), listed)
    np.testing.assert_array_equal(index.nth([3, 0, 7], "train"), index.train_starts[[3, 0, 7]])
    with pytest.raises(IndexError, match="out of range"):
        index.nth([index.count("train")], "train")
