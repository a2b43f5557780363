"""The label-free choice of the emission prior's scale (experiments/mocap/prior_scale.py):
hidden blocks, the held-out score and the paired summary."""
import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from experiments.mocap import prior_scale
from spahm.models.fused_hmm import FusedGaussianHMM


def test_hidden_blocks_are_whole_cells_inside_the_sequence_and_reproducible():
    for length in (120, 383, 447):
        mask = prior_scale.hidden_mask(length, seed=3, index=1)
        np.testing.assert_array_equal(mask, prior_scale.hidden_mask(length, seed=3, index=1))
        assert not mask[:prior_scale.BLOCK].any() and not mask[-prior_scale.BLOCK:].any()
        cells = mask[: length // prior_scale.BLOCK * prior_scale.BLOCK].reshape(
            -1, prior_scale.BLOCK)
        assert np.all(cells.all(axis=1) | ~cells.any(axis=1))  # whole blocks only
        # about 10 % of the frames, at least one block
        assert mask.sum() == prior_scale.BLOCK * max(1, round(0.1 * length / prior_scale.BLOCK))
    assert not np.array_equal(prior_scale.hidden_mask(447, 0, 1), prior_scale.hidden_mask(447, 1, 1))


def test_held_out_score_is_the_conditional_log_likelihood_of_the_hidden_frames():
    """log p(x_hidden | x_visible) = log p(x) - log p(x_visible), checked by enumerating all
    state paths of a 2-state HMM on 6 frames."""
    import itertools

    hmm = FusedGaussianHMM(means=[[0.0], [3.0]], covariances=[[[1.0]], [[2.0]]],
                           transmat=[[0.8, 0.2], [0.3, 0.7]], startprob=[0.6, 0.4]).fit()
    x = np.array([[0.1], [2.5], [3.2], [-0.4], [0.3], [2.9]])
    hide = np.array([False, True, True, False, False, False])
    emit = hmm.score_samples(x)

    def log_p(frames):
        paths = []
        for z in itertools.product(range(2), repeat=len(x)):
            lp = np.log(hmm.startprob_[z[0]]) + sum(
                np.log(hmm.transmat_[a, b]) for a, b in zip(z, z[1:]))
            paths.append(lp + sum(emit[t, z[t]] for t in frames))
        return logsumexp(paths)

    want = log_p(range(6)) - log_p(np.flatnonzero(~hide))

    class Model:  # the fitted attributes the score reads
        means_, covariances_ = hmm.means_, hmm.covariances_
        transmat_, startprob_ = hmm.transmat_, hmm.startprob_

    assert prior_scale.held_out_log_likelihood(Model, [x], [hide]) == pytest.approx(want, rel=1e-10)


def test_summary_compares_scales_paired_by_seed():
    rows = []
    for seed in range(5):
        for scale, base in ((3.0, -40.0), (10.0, -39.0)):
            for silo in (0, 1):
                shift = 0.5 * seed  # seeds differ a lot; the pairing removes it
                rows.append({"seed": seed, "prior_scale": scale, "silo": silo,
                             "hidden_frames": 100, "log_lik": 100 * (base - shift),
                             "n_states": 5 + silo})
    table, best = prior_scale.summary(pd.DataFrame(rows))
    assert best == 10.0
    assert "| 3 | -41.000 +- 0.791 | -1.000 +- 0.000 | 5 of 5 |" in table
