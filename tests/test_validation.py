"""Bad input to the core: each a ValueError that names the silo or parameter and the problem."""
import numpy as np
import pytest

from spahm import match

GOOD = np.ones((2, 3))

BAD_ATOMS = [
    ("no silos", [], "empty"),
    ("a single 2-D array", np.ones((4, 3)), "single 2-D array"),
    ("not a list", 5, "must be a list"),
    ("silo with 0 atoms", [GOOD, np.empty((0, 3))], "silo 1 has 0 local atoms"),
    ("ragged dimensions", [GOOD, np.ones((2, 4))], "silo 1 has atoms of dimension D=4"),
    ("NaN", [GOOD, np.array([[1.0, np.nan, 0.0]])], "silo 1: local atom 0 has a non-finite"),
    ("inf", [np.array([[np.inf, 1.0, 0.0]]), GOOD], "silo 0: local atom 0 has a non-finite"),
    ("strings", [GOOD, [["a", "b", "c"]]], "silo 1: local atoms must be numeric"),
    ("a string silo", [GOOD, "abc"], "silo 1: expected a numeric array"),
    ("1-D silo", [GOOD, np.ones(3)], r"silo 1: expected a 2-D array .* \(reshape a single atom"),
    ("3-D silo", [GOOD, np.ones((2, 3, 1))], "silo 1: expected a 2-D array"),
    ("zero-dimensional atoms", [np.ones((2, 0))], "dimension 0"),
]


@pytest.mark.parametrize("atoms,message", [(a, m) for _, a, m in BAD_ATOMS],
                         ids=[n for n, _, _ in BAD_ATOMS])
def test_bad_local_atoms(atoms, message):
    with pytest.raises(ValueError, match=message):
        match(atoms)


BAD_PARAMS = [
    ({"sigma": 0.0}, "sigma must be positive"),
    ({"sigma": -1.0}, "sigma must be positive"),
    ({"sigma0": np.array([1.0, -1.0, 1.0])}, "sigma0 must be positive"),
    ({"sigma": np.ones(4)}, "sigma must be a scalar or have length D=3"),
    ({"sigma": "big"}, "sigma must be a positive number"),
    ({"gamma0": 0}, "gamma0 must be positive"),
    ({"gamma0": np.ones(3)}, "gamma0 must be a positive scalar"),
    ({"mu0": np.nan}, "mu0 must be finite"),
    ({"n_iter": -1}, "n_iter must be an integer >= 0"),
    ({"n_iter": 2.5}, "n_iter must be an integer"),
    ({"popularity_cap": 0}, "popularity_cap must be an integer >= 1"),
    ({"n_init": 0}, "n_init must be an integer >= 1"),
    ({"max_global_atoms": 1}, "max_global_atoms=1 is smaller than silo 0's 2 local atoms"),
]


@pytest.mark.parametrize("kwargs,message", BAD_PARAMS, ids=[str(k) for k, _ in BAD_PARAMS])
def test_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        match([GOOD, GOOD + 1], **kwargs)
