"""Latent usefulness against the linear baseline, on constructed latents whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.usefulness import linear_cka, measure_usefulness, pca_codes


def sine_windows(n: int = 600, length: int = 12, sensors: int = 3, seed: int = 0) -> np.ndarray:
    """Windows of a slowly drifting two-parameter signal: a low-dimensional structure a good code keeps."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    phase, amp = np.linspace(0, 6 * np.pi, n), 1 + 0.5 * np.sin(np.linspace(0, 2 * np.pi, n))
    x = amp[:, None, None] * np.sin(phase[:, None, None] + t[None, :, None] * 0.3 + np.arange(sensors))
    return x + 0.01 * rng.normal(size=x.shape)


def test_the_pca_itself_scores_as_the_baseline_and_noise_is_called_worse():
    windows = sine_windows()
    flat = windows.reshape(len(windows), -1)
    as_pca = measure_usefulness(windows, pca_codes(flat, 3))
    assert as_pca.trustworthiness == pytest.approx(as_pca.pca_trustworthiness, abs=1e-9)
    assert as_pca.trustworthiness > 0.9 and not as_pca.worse_than_pca
    noise = measure_usefulness(windows, np.random.default_rng(1).normal(size=(len(windows), 3)))
    assert noise.trustworthiness < 0.65 and noise.worse_than_pca
    assert "worse than a plain PCA" in noise.text() and "worse" not in as_pca.text()


def test_a_rotated_and_scaled_code_keeps_its_neighbourhoods_and_its_cka():
    windows = sine_windows()
    code = pca_codes(windows.reshape(len(windows), -1), 3)
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))
    turned = 5.0 * code @ q
    a, b = measure_usefulness(windows, code), measure_usefulness(windows, turned)
    assert a.trustworthiness == pytest.approx(b.trustworthiness) and a.continuity == pytest.approx(b.continuity)
    assert linear_cka(code, turned) == pytest.approx(1.0)
    assert linear_cka(code, np.random.default_rng(3).normal(size=code.shape)) < 0.1


def test_too_few_or_mismatched_windows_are_refused():
    windows = sine_windows(n=15)
    with pytest.raises(ValueError, match="too few"):
        measure_usefulness(windows, np.zeros((15, 3)))
    with pytest.raises(ValueError, match="14 latent vectors"):
        measure_usefulness(windows, np.zeros((14, 3)))
