"""The latent diagnostics and verdicts, on constructed latent matrices."""

import numpy as np
import pytest

from pipeline.quality import TrainingFacts, correlations, dimension_stats, judge_latents, participation_ratio


def healthy(n=500, k=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, k)).astype(np.float32)


def test_constant_zero_dimension_is_dead_and_explained():
    z = healthy()
    z[:, 2] = 0.0
    verdict = judge_latents(z)
    assert not verdict.passed and verdict.dead == ["z_2"]
    text = verdict.explanation()
    assert "z_2" in text and "500 windows" in text and "relu" in text and "zscore" in text
    assert "2 useful dimension(s) of 3" in text
    row = verdict.stats.set_index("dimension").loc["z_2"]
    assert row["zero_fraction"] == 1.0 and row["std"] == 0 and row["min"] == row["max"] == 0
    assert not row["active"] and row["variance_share"] == 0


def test_constant_nonzero_dimension_is_an_error_too():
    z = healthy()
    z[:, 0] = 3.25
    verdict = judge_latents(z)
    assert verdict.dead == ["z_0"] and [f.kind for f in verdict.errors] == ["constant"]
    assert "z_0 = 3.25" in verdict.explanation()


def test_explanation_names_the_actual_cause():
    z = healthy()
    z[:, 1] = 0.0
    seed = judge_latents(z, TrainingFacts("seed", "none")).explanation()
    assert "`seed` architecture puts relu on the latent LSTM" in seed
    assert "scaling 'none'" in seed and "architecture to 'default'" in seed and "'zscore'" in seed
    default = judge_latents(z, TrainingFacts("default", "zscore")).explanation()
    assert "linear" in default and "weights for it are zero" in default
    assert "relu" not in default and "scaling 'none'" not in default


def test_mostly_zero_dimension_warns_but_does_not_fail_and_tiny_noise_counts_as_zero():
    z = np.zeros((1000, 3), dtype=np.float32)
    z[:, 0] = np.random.default_rng(2).normal(size=1000)
    z[:400, 1] = np.linspace(0.5, 3.0, 400)  # a relu unit that fires on 40% of the windows
    z[:, 2] = 1e-8  # numerically zero
    verdict = judge_latents(z)
    assert verdict.dead == ["z_2"]
    [mostly] = [f for f in verdict.warnings if f.kind == "mostly_zero"]
    assert mostly.dimensions == ["z_1"] and "z_1 in 60%" in mostly.text
    assert verdict.stats.loc[1, "zero_fraction"] == pytest.approx(0.6)


def test_a_dimension_that_fires_on_half_the_windows_is_not_mostly_zero_below_the_threshold():
    z = healthy(k=2)
    z[:, 1] = np.abs(z[:, 1])
    z[:200, 1] = 0.0  # 40% zeros
    assert judge_latents(z).healthy


def test_inactive_duplicate_and_blown_up_dimensions_warn():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(800, 4))
    z[:, 1] = 0.05 * rng.normal(size=800)  # variance ~0.0025 <= 0.01
    z[:, 2] = -2.0 * z[:, 0] + 0.01 * rng.normal(size=800)  # |corr| ~ 1 with z_0
    z[:, 3] = 1e3 * rng.normal(size=800)  # std ~1e3
    verdict = judge_latents(z, TrainingFacts("seed", "zscore"))
    assert verdict.passed and not verdict.healthy
    kinds = {f.kind: f.dimensions for f in verdict.warnings}
    assert kinds == {"inactive": ["z_1"], "duplicate": ["z_0", "z_2"], "scale": ["z_3"]}
    text = verdict.warning_text()
    assert "z_0 and z_2" in text and "Burda" in text and "z_3 std" in text and "`seed` architecture" in text
    assert verdict.stats["active"].tolist() == [True, False, True, True]
    assert verdict.summary()["warned_dimensions"] == "z_0, z_1, z_2, z_3"


def test_healthy_latents_pass_both_verdicts():
    verdict = judge_latents(healthy(k=4, seed=1))
    assert verdict.passed and verdict.healthy
    assert "all 4 latent dimensions vary" in verdict.explanation()
    assert "4 of 4 units active" in verdict.warning_text()


def test_participation_ratio_counts_the_effective_dimensions():
    z = healthy(n=20_000, k=4, seed=4)
    assert participation_ratio(z) == pytest.approx(4.0, rel=0.02)
    z[:, 1:] *= 1e-3  # one direction holds all the variance
    assert participation_ratio(z) == pytest.approx(1.0, rel=1e-3)
    assert participation_ratio(np.zeros((10, 3))) == 0.0


def test_stats_and_correlations_of_a_known_matrix():
    z = np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 6.0], [0.0, 2.0, 1.0], [0.0, 2.0, 3.0]])
    stats = dimension_stats(z).set_index("dimension")
    assert stats.loc["z_1", "variance"] == pytest.approx(0.5) and stats.loc["z_2", "variance"] == 3.5
    assert stats.loc["z_2", "variance_share"] == pytest.approx(3.5 / 4.0)
    pairs = correlations(z)  # z_0 is constant: left out
    assert pairs[["a", "b"]].values.tolist() == [["z_1", "z_2"]]
    assert pairs.loc[0, "abs_correlation"] == pytest.approx(abs(np.corrcoef(z[:, 1], z[:, 2])[0, 1]))


def test_empty_latents_are_an_error():
    with pytest.raises(ValueError, match="non-empty"):
        judge_latents(np.zeros((0, 3)))


def test_non_finite_latents_or_errors_fail_and_say_why():
    z = healthy()
    z[[3, 9, 27], 1] = np.nan
    z[5, 2] = np.inf
    errors = np.ones(len(z))
    errors[7] = np.nan
    verdict = judge_latents(z, TrainingFacts("default", "zscore"), reconstruction_errors=errors)
    assert not verdict.passed and [f.kind for f in verdict.errors] == ["non_finite"]
    assert verdict.summary()["non_finite"] and verdict.dead == []
    text = verdict.explanation()
    assert "z_1 in 3 of 500 windows" in text and "z_2 in 1 of 500 windows" in text
    assert "reconstruction_error in 1 of 500 windows" in text and "diverged" in text
    only_errors = judge_latents(healthy(), reconstruction_errors=errors)
    assert not only_errors.passed and "reconstruction_error in 1 of 500" in only_errors.explanation()
    assert judge_latents(healthy(), reconstruction_errors=np.ones(500)).passed
