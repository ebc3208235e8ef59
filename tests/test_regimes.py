"""Operating regimes (pipeline.regimes) on constructed latents: the count BIC chooses, windows off every regime,
ids kept across a retrain by the windows the regimes hold, and the stored form."""

import numpy as np
import pytest

from pipeline.regimes import MATCH_SHARE, fit_regimes, keep_ids
from pipeline.store import load_artifact, save_artifact

CENTRES = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 4.0, 2.0]])


def clusters(n: int = 600, seed: int = 0, centres=CENTRES) -> tuple[np.ndarray, np.ndarray]:
    """`n` windows per centre (in time order, cluster by cluster) and each window's true cluster."""
    rng = np.random.default_rng(seed)
    z = np.concatenate([rng.normal(c, 0.4, (n, len(c))) for c in centres])
    return z, np.repeat(np.arange(len(centres)), n)


def test_bic_finds_the_three_clusters_and_flags_windows_off_every_regime():
    z, truth = clusters()
    regimes = fit_regimes(z)
    assert regimes.count == 3 and min(regimes.bic, key=regimes.bic.get) == 3 and len(regimes.bic) == 8
    assignment = regimes.assign(z)
    for k in range(3):  # each cluster is one regime, whole
        assert len(set(assignment.regime[truth == k])) == 1
    assert sorted(assignment.shares(regimes.ids).values()) == pytest.approx([1 / 3] * 3)
    assert assignment.off.mean() < 0.01  # the quantile that sets the limit: 0.5 % of the fitted windows
    far = regimes.assign(np.array([[20.0, 20.0, 20.0], CENTRES[1]]))
    assert far.off.tolist() == [True, False] and far.distance[0] > 10 * far.distance[1]


def test_a_retrain_keeps_the_ids_of_the_regimes_holding_the_same_windows():
    z, _ = clusters()
    first = fit_regimes(z)
    before = first.assign(z).regime
    # the retrain's latents of the same windows are in another frame altogether (rotated, scaled, moved), and it
    # also sees a state the first version never saw
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    extra, _ = clusters(centres=[[-6.0, 5.0, -3.0]], seed=2)
    z_new = np.concatenate([z, extra]) @ rotation * 2.5 + 7.0
    seen_first = first.assign(np.concatenate([z, extra]))  # the first model's view of them
    assert seen_first.off[len(z):].all()  # it never saw that state
    second = keep_ids(fit_regimes(z_new, seed=5), z_new, first, seen_first, "v1")
    assert second.count == 4 and second.matched_to == "v1"
    after = second.assign(z_new).regime
    assert (after[: len(z)] == before).all()  # the same windows, the same regime ids
    assert set(after[len(z):]) == {int(first.ids.max()) + 1}  # the new state: a new id
    assert sorted(second.matches) == sorted(first.ids.tolist()) and min(second.matches.values()) > 0.99
    assert "3 with the ids of version v1, new: 3" in second.text()


def test_a_regime_split_across_versions_keeps_its_id_only_where_it_holds_the_majority():
    z, truth = clusters()
    first = fit_regimes(z)
    before = first.assign(z).regime
    # the second version, allowed two regimes, sees the first two clusters as one: its id is one of theirs, the
    # third keeps its own
    z_new = z * [0.05, 1, 1]
    merged = fit_regimes(z_new, max_regimes=2)
    assert merged.count == 2
    second = keep_ids(merged, z_new, first, first.assign(z), "v1")
    shares = second.matches
    assert set(shares) <= set(first.ids.tolist()) and all(s >= MATCH_SHARE for s in shares.values())
    third = int(before[truth == 2][0])
    assert third in shares and shares[third] > 0.99


def test_regimes_round_trip_through_their_stored_form(tmp_path):
    z, _ = clusters()
    regimes = fit_regimes(z)
    save_artifact(regimes, tmp_path / "latent_regimes")
    loaded = load_artifact(tmp_path / "latent_regimes")
    assert (tmp_path / "latent_regimes" / "regimes.json").exists()
    assert loaded.bic == regimes.bic and loaded.off_distance == regimes.off_distance
    np.testing.assert_array_equal(loaded.assign(z).regime, regimes.assign(z).regime)


def test_too_few_or_non_finite_latents_are_refused():
    with pytest.raises(ValueError, match="too few"):
        fit_regimes(np.zeros((5, 3)))
    z, _ = clusters(n=50)
    z[3, 1] = np.nan
    with pytest.raises(ValueError, match="not all finite"):
        fit_regimes(z)
