import numpy as np
import pytest

from pipeline.quality import judge_latents


def test_constant_zero_dimension_is_dead_and_explained():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 3)).astype(np.float32)
    z[:, 2] = 0.0
    verdict = judge_latents(z)
    assert not verdict.passed and verdict.dead == ["z_2"]
    text = verdict.explanation()
    assert "z_2" in text and "500 windows" in text and "relu" in text and "zscore" in text
    row = verdict.stats.set_index("dimension").loc["z_2"]
    assert row["zero_fraction"] == 1.0 and row["std"] == 0 and row["min"] == row["max"] == 0


def test_mostly_zero_dimension_is_alive_and_tiny_noise_counts_as_zero():
    z = np.zeros((1000, 2), dtype=np.float32)
    z[:10, 0] = 0.5  # a relu unit that fires on 1% of the windows still carries information
    z[:, 1] = 1e-8  # numerically zero
    verdict = judge_latents(z)
    assert verdict.dead == ["z_1"]
    assert verdict.stats.loc[0, "zero_fraction"] == pytest.approx(0.99)


def test_healthy_latents_pass():
    verdict = judge_latents(np.random.default_rng(1).normal(size=(100, 4)))
    assert verdict.passed and "all 4 latent dimensions vary" in verdict.explanation()


def test_empty_latents_are_an_error():
    with pytest.raises(ValueError, match="non-empty"):
        judge_latents(np.zeros((0, 3)))
