"""spahm.metrics: values on small cases worked by hand, and invariance to label permutations."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spahm.metrics import ari, hamming, hausdorff, relabel

labels = st.integers(2, 40).flatmap(
    lambda n: st.tuples(arrays(np.int64, n, elements=st.integers(0, 5)),
                        arrays(np.int64, n, elements=st.integers(0, 5))))
atoms = st.integers(1, 6).flatmap(
    lambda n: arrays(np.float64, (n, 2), elements=st.floats(-100, 100, allow_nan=False)))


def _bijection(values, seed):
    """Labels renamed by a random one-to-one map onto other integers."""
    old = np.unique(values)
    new = np.random.default_rng(seed).permutation(len(old) + 3)[: len(old)] * 7 + 100
    return new[np.searchsorted(old, values)]


@settings(max_examples=60, deadline=None)
@given(labels, st.integers(0, 2**32 - 1))
def test_hamming_and_ari_ignore_the_names_of_labels(pair, seed):
    predicted, truth = pair
    renamed_p, renamed_t = _bijection(predicted, seed), _bijection(truth, seed + 1)
    assert hamming(renamed_p, truth) == pytest.approx(hamming(predicted, truth), abs=1e-12)
    assert hamming(predicted, renamed_t) == pytest.approx(hamming(predicted, truth), abs=1e-12)
    assert ari(renamed_p, renamed_t) == pytest.approx(ari(predicted, truth), abs=1e-12)
    assert hamming(truth, truth) == 0.0 and hamming(renamed_t, truth) == 0.0


@settings(max_examples=60, deadline=None)
@given(atoms, atoms, st.integers(0, 2**32 - 1))
def test_hausdorff_ignores_the_order_of_atoms_and_is_symmetric(a, b, seed):
    rng = np.random.default_rng(seed)
    d = hausdorff(a, b)
    assert hausdorff(a[rng.permutation(len(a))], b[rng.permutation(len(b))]) == d
    assert hausdorff(b, a) == d
    assert hausdorff(a, a) == 0.0


def test_hausdorff_by_hand():
    # farthest point of a from b: (3, 0) at distance 3 from (0, 0); every b is at 0 or 1
    assert hausdorff([[0.0, 0.0], [3.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]]) == 3.0


def test_relabel_and_hamming_by_hand():
    # predicted cluster 7 is true 0 (2 of 3), predicted 9 is true 1; one mistake in five
    predicted, truth = [7, 7, 7, 9, 9], [0, 0, 1, 1, 1]
    assert relabel(predicted, truth).tolist() == [0, 0, 0, 1, 1]
    assert hamming(predicted, truth) == pytest.approx(0.2)
    # more predicted clusters than true ones: the extra one gets a fresh label, never correct
    out = relabel([0, 1, 2], [5, 5, 6]).tolist()
    assert out[2] == 6 and sorted(out[:2]) == [5, 7]
    assert hamming([0, 1, 2], [5, 5, 6]) == pytest.approx(1 / 3)
