"""The library and the ``spahm`` command tried as a hostile user would: one row per probe with
its expected outcome, grouped by the principle it checks.

1. Nothing is lost: a failed fit or partial fit leaves the model exactly as it was; the
   command never replaces what is not a regular file and keeps a file's permissions.
2. No silent wrong answers: input is read exactly or refused.
3. Every failure is one ``ValueError`` naming its cause (the input, parameter or file).
4. Nothing runs unbounded: every count has a documented upper bound.
"""
import copy
import os
import pickle
import stat
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pytest
import scipy.sparse

from spahm import SPAHM, cli, fuse_models, match
from spahm._validation import InvalidParameterError
from spahm.metrics import ari, hamming, hausdorff
from spahm.models.mixture import FusedKMeans
from spahm.models.topics import fit_local_topics

SILOS = [np.array([[0.0, 0.0], [10.0, 10.0], [20.0, 0.0]]),
         np.array([[0.2, -0.1], [9.8, 10.1]]), np.array([[19.9, 0.3], [10.2, 9.9]])]


@dataclass
class Probe:
    name: str
    run: object                 # run(tmp_path); asserts what it checks itself
    raises: type | None = None  # expected exception type (None: completes)
    match: str | None = None    # regular expression the message must contain


def _state(model):
    """Everything a fitted SPAHM holds, pickled (so that "unchanged" is exact)."""
    return pickle.dumps({k: v for k, v in vars(model).items()})


def _unchanged_after(action, fitted=None):
    """Run ``action(model)`` on a fitted model; it must raise ValueError (or be interrupted)
    and leave the model byte-identical; then a valid partial fit must still work."""
    def run(tmp_path):
        model = fitted() if fitted else SPAHM(random_state=0).fit(SILOS)
        before = _state(model)
        with pytest.raises((ValueError, KeyboardInterrupt)):
            action(model)
        assert _state(model) == before
        reference = copy.deepcopy(model).partial_fit([SILOS[1]])
        model.partial_fit([SILOS[1]])
        np.testing.assert_array_equal(model.global_atoms_, reference.global_atoms_)
    return run


def _interrupted(model):
    state = model._state_

    def stop(*args, **kwargs):
        raise KeyboardInterrupt
    type(state).run_passes, original = stop, type(state).run_passes
    try:
        model.partial_fit([SILOS[0]])
    finally:
        type(state).run_passes = original


def _fused_kmeans_refit_fails_cleanly(tmp_path):
    model = FusedKMeans(cluster_centers=[[0.0, 0.0], [5.0, 5.0]]).fit()
    before = pickle.dumps(vars(model))
    with pytest.raises(ValueError, match="X has 3 features, but the centres have 2"):
        model.set_params(cluster_centers=[[1.0, 1.0]]).fit(np.ones((2, 3)))
    model.set_params(cluster_centers=[[0.0, 0.0], [5.0, 5.0]])
    assert pickle.dumps(vars(model)) == before


def _huge_scale_with_variances(tmp_path):
    """Atoms ~1e155 with variances ~1e300: the scale's square (~1e311) is beyond float64; the
    fit and a partial fit must work in relative terms (equivariance), not raise
    OverflowError."""
    a = 1e155
    big_tau = [np.linspace(1e300, 3e300, len(s)) for s in SILOS]  # unequal: the general path
    tau = [t / a / a for t in big_tau]
    ref = SPAHM(random_state=0, sigma=0.5, sigma0=10.0).fit(SILOS, local_variances=tau)
    big = SPAHM(random_state=0, sigma=0.5 * a, sigma0=10.0 * a)
    big.fit([s * a for s in SILOS], local_variances=big_tau)
    rows = lambda x: x[np.lexsort(x.T[::-1])]  # noqa: E731  (global atoms as a set)
    np.testing.assert_allclose(rows(big.global_atoms_ / a), rows(ref.global_atoms_), rtol=1e-9,
                               atol=1e-12)
    assert big.hyperparameters_["sigma"] / a == pytest.approx(ref.hyperparameters_["sigma"],
                                                             rel=1e-9)
    big.partial_fit([SILOS[0] * a], local_variances=[big_tau[0]])
    assert np.all(np.isfinite(big.global_atoms_))


INTEGER_SILOS = [np.array([[0, 0], [10, 10], [20, 0]]), np.array([[1, 0], [10, 9]])]


def _same_as_floats(convert):
    def run(tmp_path):
        ref = match([s.astype(np.float64) for s in INTEGER_SILOS], random_state=0)
        got = match([convert(s) for s in INTEGER_SILOS], random_state=0)
        np.testing.assert_array_equal(got.global_atoms, ref.global_atoms)
    return run


def _predict_far_away(tmp_path):
    model = FusedKMeans(cluster_centers=[[0.0, 0.0], [1e200, 1e200]]).fit()
    assert model.predict([[9e199, 9e199], [1e199, 0.0]]).tolist() == [1, 0]


def _bounded(kwargs):
    def run(tmp_path):
        start = time.perf_counter()
        with pytest.raises(InvalidParameterError, match="must be an int in the range"):
            match(SILOS, **kwargs)
        assert time.perf_counter() - start < 5.0
    return run


def _invalid_n_iter(model):
    """partial_fit after set_params(n_iter=-1) must fail; n_iter is put back after."""
    model.set_params(n_iter=-1)
    try:
        model.partial_fit([SILOS[0]])
    finally:
        model.set_params(n_iter=10)


def _networks():
    from sklearn.neural_network import MLPRegressor

    X = np.random.default_rng(0).normal(size=(20, 2))
    nets = [MLPRegressor(hidden_layer_sizes=(3,), random_state=j) for j in range(2)]
    for net in nets:  # one step each: whether they fit does not matter here
        net.partial_fit(X, X[:, 0])
    return nets


def _mixtures():
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    return [GaussianMixture(2, random_state=0).fit(rng.normal(size=(30, 2))) for _ in range(2)]



def _fused_hmm():
    """Two standard-normal states at the origin (spahm.models.fused_hmm)."""
    from spahm.models.fused_hmm import FusedGaussianHMM
    return FusedGaussianHMM(means=np.zeros((2, 2)), covariances=np.stack([np.eye(2)] * 2),
                            transmat=np.full((2, 2), 0.5), startprob=np.full(2, 0.5)).fit()

def _equal(a, b):
    assert a == b


def _lda():
    from sklearn.decomposition import LatentDirichletAllocation

    counts = np.random.default_rng(0).integers(0, 5, (10, 4))
    return [LatentDirichletAllocation(2, max_iter=2, random_state=0).fit(counts)] * 2


LIBRARY = [
    # 1. all or nothing
    Probe("partial_fit with a NaN silo", _unchanged_after(
        lambda m: m.partial_fit([np.array([[np.nan, 1.0]])]))),
    Probe("partial_fit with another dimension", _unchanged_after(
        lambda m: m.partial_fit([np.ones((2, 3))]))),
    Probe("partial_fit with unexpected variances", _unchanged_after(
        lambda m: m.partial_fit([SILOS[0]], local_variances=[1.0]))),
    Probe("partial_fit whose costs overflow", _unchanged_after(
        lambda m: m.partial_fit([np.array([[1e307, -1e307]])]))),
    Probe("partial_fit after an invalid set_params", _unchanged_after(_invalid_n_iter)),
    Probe("partial_fit interrupted by Ctrl-C", _unchanged_after(_interrupted)),
    Probe("fit with bad input on a fitted model", _unchanged_after(
        lambda m: m.fit([SILOS[0], "abc"]))),
    Probe("FusedKMeans refit with a bad X", _fused_kmeans_refit_fails_cleanly),
    # 2. exact or refused
    Probe("masked atoms", lambda t: match([np.ma.masked_array(SILOS[0], mask=SILOS[0] > 5),
                                           SILOS[1]]), ValueError, "silo 0: .*masked array"),
    Probe("masked variances", lambda t: match(SILOS, local_variances=[
        np.ma.masked_array([1.0, 2.0, 3.0], [1, 0, 0]), 1.0, 1.0]), ValueError,
        "silo 0: local_variances is a masked array"),
    Probe("dates as atoms", lambda t: match([SILOS[0].astype("datetime64[D]"), SILOS[1]]),
          ValueError, "silo 0: .*dates or time spans"),
    Probe("time spans as variances", lambda t: match(SILOS, local_variances=[
        np.ones(3, dtype="timedelta64[s]"), 1.0, 1.0]), ValueError, "dates or time spans"),
    Probe("Decimal objects", lambda t: match([np.array([[Decimal("0.1"), 1]], dtype=object),
                                              SILOS[1]]), ValueError, "holds Decimal values"),
    Probe("object array of Python ints: exact", _same_as_floats(
        lambda s: np.array(s.tolist(), dtype=object))),
    Probe("int8 atoms: exact", _same_as_floats(lambda s: s.astype(np.int8))),
    Probe("float16 atoms: exact", _same_as_floats(lambda s: s.astype(np.float16))),
    Probe("sparse silo", lambda t: match([scipy.sparse.csr_matrix(SILOS[0]), SILOS[1]]),
          ValueError, r"silo 0: .*sparse matrix: convert it with \.toarray\(\)"),
    Probe("a set of silos", lambda t: match({1, 2}), ValueError, "got a set"),
    Probe("variances passed as y", lambda t: SPAHM().fit(SILOS, [1.0, 1.0, 1.0]), ValueError,
          "y must be None"),
    Probe("sigma given as a bool", lambda t: match(SILOS, sigma=True), ValueError,
          "'sigma' parameter of SPAHM must be a number, not a bool"),
    Probe("Hausdorff of NaN atoms", lambda t: hausdorff([[np.nan, 0.0]], [[0.0, 0.0]]),
          ValueError, "hausdorff: estimated holds NaN"),
    Probe("Hausdorff at 1e300 is exact", lambda t: _equal(
        hausdorff([[1e300, 0.0]], [[-1e300, 0.0]]), 2e300)),
    Probe("Hamming of no labels", lambda t: hamming([], []), ValueError, "no labels"),
    Probe("fused HMM scored on frames at 1e200", lambda t: _fused_hmm().score(
        np.full((3, 2), 1e200)), ValueError, r"X: frame 0 \(largest \|value\| 1e\+200\)"),
    Probe("fused HMM scored on frames at 1e100 is finite", lambda t: _equal(
        _fused_hmm().score(np.full((3, 2), 1e100)), -3e200)),

    Probe("ARI of no labels", lambda t: ari([], []), ValueError, "no labels"),
    Probe("FusedKMeans predict far away", _predict_far_away),
    Probe("FusedKMeans score beyond the float range",
          lambda t: FusedKMeans(cluster_centers=[[0.0, 0.0]]).fit().score([[1e300, 1e300]]),
          ValueError, "exceeds the float range"),
    Probe("MLP scale given as text", lambda t: fuse_models(_networks(), scale="no"), ValueError,
          "scale must be True or False"),
    Probe("LDA given data it does not use", lambda t: fuse_models(_lda(), data=[[1], [1]]),
          ValueError, "does not use the silos' data"),
    Probe("word ids that are not integers", lambda t: fit_local_topics([0.5, 1], np.eye(2)),
          ValueError, "token_ids must be a 1-D array of integer"),
    Probe("a word id beyond the vocabulary", lambda t: fit_local_topics([0, 5], np.eye(2)),
          ValueError, r"token_ids must lie in \[0, 2\)"),
    Probe("a fractional number of topics", lambda t: fit_local_topics([0, 1], np.eye(2),
                                                                      n_topics=2.5),
          ValueError, "n_topics must be an integer >= 1"),
    Probe("popularity that is not counts", lambda t: FusedKMeans(
        cluster_centers=[[0.0, 0.0], [1.0, 1.0]], popularity=["a", "b"]).fit(), ValueError,
        "popularity must hold counts"),
    Probe("mixture given NaN data", lambda t: fuse_models(_mixtures(), data=[
        np.full((3, 2), np.nan)] * 2), ValueError, "model 0: Input data contains NaN"),
    Probe("mixture given data of another width", lambda t: fuse_models(_mixtures(), data=[
        np.ones((3, 3))] * 2), ValueError, "model 0: data has 3 columns but the model's atoms"),
    Probe("mixture given a number as data", lambda t: fuse_models(_mixtures(), data=[5, 5]),
          ValueError, "model 0: Expected 2D array"),
    # 3. one clear ValueError naming the cause
    Probe("mu0 = 1e300", lambda t: match(SILOS, mu0=1e300), ValueError,
          r"mu0=1e\+300 is too far from the atoms"),
    Probe("atoms of 1e308 (Poisson)", lambda t: match(
        [np.array([[1e308, 1.0]]), np.array([[1.0, 1.0]])], family="poisson"), ValueError,
        r"largest magnitude 1e\+308"),
    Probe("sigma = 1e300", lambda t: match(SILOS, sigma=1e300), ValueError,
          r"sigma=1e\+300 is too far from the atoms' spread"),
    Probe("atoms at 1e160 with variances", _huge_scale_with_variances),
    Probe("a ragged silo", lambda t: match([SILOS[0], [[1.0, 2.0], [3.0]]]), ValueError,
          "silo 1: local atoms: not a rectangular array"),
    Probe("gamma0 as text", lambda t: match(SILOS, gamma0="a"), InvalidParameterError,
          "'gamma0' parameter of SPAHM"),
    Probe("sigma with a NaN", lambda t: match(SILOS, sigma=[1.0, np.nan]), InvalidParameterError,
          "'sigma' parameter of SPAHM"),
    Probe("random_state = True", lambda t: match(SILOS, random_state=True), ValueError,
          "'random_state' parameter of SPAHM"),
    Probe("unknown family", lambda t: match(SILOS, family="student"), InvalidParameterError,
          "'family' parameter of SPAHM"),
    # 4. bounded
    Probe("n_init = 10**6", _bounded({"n_init": 10**6})),
    Probe("n_iter = 10**9", _bounded({"n_iter": 10**9})),
]


@pytest.mark.parametrize("probe", LIBRARY, ids=[p.name for p in LIBRARY])
def test_library_probe(probe, tmp_path):
    if probe.raises is None:
        probe.run(tmp_path)
        return
    with pytest.raises(probe.raises, match=probe.match):
        probe.run(tmp_path)


# ------------------------------------------------------------------ the spahm command
def _write(tmp_path, name, content):
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def _fuse(tmp_path, content, name="s.csv", extra=()):
    """Fuse a good silo (.npy: no header options apply) with one file of ``content``; return
    the exit status and the output path."""
    good = tmp_path / "good.npy"
    np.save(good, np.array([[0.0, 0.0], [10.0, 10.0]]))
    bad = _write(tmp_path, name, content)
    out = tmp_path / "out.npz"
    status = cli.main(["fuse", str(good), str(bad), "-o", str(out), *extra])
    return status, out


@dataclass
class TextProbe:
    name: str
    content: object
    rows: int | None             # atoms read (None: refused)
    match: str = ""              # refused: what the one error line says
    extra: tuple = ()


TEXT = [
    TextProbe("first row with a typo (2.O)", "1,2.O\n3,4\n", None,
              r"line 1, field 2: '2.O' is not a decimal number \(a header line"),
    TextProbe("byte-order mark", "\ufeff1,2\n3,4\n", 2),
    TextProbe("hexadecimal", "0x10,1\n3,4\n", None, "'0x10' is not a decimal number"),
    TextProbe("underscores", "1_000,1\n3,4\n", None, "'1_000' is not a decimal number"),
    TextProbe("a names header", "x,y\n1,2\n3,4\n", 2),
    TextProbe("a header that mixes names and numbers", "x,1\n1,2\n", None,
              "line 1, field 1: 'x' is not a decimal number"),
    TextProbe("--no-header on a header", "x,y\n1,2\n", None, "'x' is not a decimal",
              ("--no-header",)),
    TextProbe("--header skips a numeric first line", "9,9\n1,2\n3,4\n", 2, "", ("--header",)),
    TextProbe("an empty field", "1,,2\n", None, "line 1, field 2: '' is not a decimal"),
    TextProbe("rows of different lengths", "1,2\n3\n", None, "line 2 has 1 fields, line 1 has 2"),
    TextProbe("decimal comma", "1,5;2\n", None, "'5;2' is not a decimal"),
    TextProbe("Latin-1 bytes", b"1,2\n3,\xe94\n", None, "not UTF-8 text"),
    TextProbe("a NUL byte", b"1,2\x00\n", None, "holds NUL bytes"),
    TextProbe("CRLF line ends", "1,2\r\n3,4\r\n", 2),
    TextProbe("blank lines and spaces", "\n 1 , 2 \n\n3,4\n\n", 2),
    TextProbe("only a header", "x,y\n", None, "a header line and no atoms"),
    TextProbe("infinity", "inf,1\n", None, "atom 0 has a non-finite value in column 0"),
    TextProbe("a number too large for float64", "1e999,1\n", None, "non-finite value"),
]


@pytest.mark.parametrize("probe", TEXT, ids=[p.name for p in TEXT])
def test_cli_text_probe(probe, tmp_path, capsys):
    status, out = _fuse(tmp_path, probe.content, extra=probe.extra)
    err = capsys.readouterr().err
    if probe.rows is None:
        assert status == 2 and not out.exists()
        assert len(err.strip().splitlines()) == 1 and "s.csv" in err
        assert probe.match and __import__("re").search(probe.match, err), err
    else:
        assert status == 0, err
        with np.load(out) as z:
            assert z["silo_sizes"].tolist() == [2, probe.rows]


def _run_cli(args, capsys):
    status = cli.main(["fuse", *map(str, args)])
    return status, capsys.readouterr().err


def _good(tmp_path):
    return _write(tmp_path, "good.csv", "0,0\n10,10\n"), _write(tmp_path, "g2.csv", "0,1\n9,9\n")


def _cli_device(tmp_path, capsys):
    a, b = _good(tmp_path)
    status, err = _run_cli([a, b, "-o", os.devnull], capsys)
    assert status == 2 and "not a regular file" in err
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def _cli_fifo(tmp_path, capsys):
    a, b = _good(tmp_path)
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    status, err = _run_cli([a, b, "-o", fifo], capsys)
    assert status == 2 and "not a regular file" in err and stat.S_ISFIFO(os.stat(fifo).st_mode)
    status, err = _run_cli([a, fifo, "-o", tmp_path / "o.npz"], capsys)  # as input: no hang
    assert status == 2 and "not a regular file" in err


def _cli_symlink(tmp_path, capsys):
    a, b = _good(tmp_path)
    target = _write(tmp_path, "target.npz", "keep")
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    status, err = _run_cli([a, b, "-o", link], capsys)
    assert status == 2 and "symbolic link" in err and target.read_text() == "keep"


def _cli_keeps_mode(tmp_path, capsys):
    a, b = _good(tmp_path)
    out = _write(tmp_path, "o.npz", "old")
    os.chmod(out, 0o640)
    assert _run_cli([a, b, "-o", out], capsys)[0] == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640 and np.load(out)["global_atoms"].size


def _cli_new_file_mode(tmp_path, capsys):
    a, b = _good(tmp_path)
    old = os.umask(0o027)
    try:
        assert _run_cli([a, b, "-o", tmp_path / "new.npz"], capsys)[0] == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o640


def _cli_failure_keeps_old_output(tmp_path, capsys):
    a, _ = _good(tmp_path)
    out = _write(tmp_path, "o.npz", "previous result")
    bad = _write(tmp_path, "bad.csv", "1,2\n3\n")
    assert _run_cli([a, bad, "-o", out], capsys)[0] == 2
    assert out.read_text() == "previous result"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _cli_concurrent_writers(tmp_path, capsys):
    a, b = _good(tmp_path)
    out = tmp_path / "o.npz"
    status = []
    threads = [threading.Thread(target=lambda s=seed: status.append(cli.main(
        ["fuse", str(a), str(b), "-o", str(out), "--seed", str(s)]))) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert status == [0] * 4
    with np.load(out) as z:  # one whole result, never a mix or a torn file
        assert z["global_atoms"].shape[1] == 2 and z["assignments"].size == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _cli_npy_of_dates(tmp_path, capsys):
    a, _ = _good(tmp_path)
    dates = tmp_path / "d.npy"
    np.save(dates, np.array([["2020-01-01", "2020-01-02"]], dtype="datetime64[D]"))
    status, err = _run_cli([a, dates, "-o", tmp_path / "o.npz"], capsys)
    assert status == 2 and "dates or time spans" in err


def _cli_pickled_npy(tmp_path, capsys):
    a, _ = _good(tmp_path)
    evil = tmp_path / "e.npy"
    np.save(evil, np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    status, err = _run_cli([a, evil, "-o", tmp_path / "o.npz"], capsys)
    assert status == 2 and "e.npy" in err and "Traceback" not in err


def _cli_truncated_npy(tmp_path, capsys):
    a, _ = _good(tmp_path)
    cut = tmp_path / "cut.npy"
    np.save(cut, np.ones((50, 2)))
    cut.write_bytes(cut.read_bytes()[:100])
    status, err = _run_cli([a, cut, "-o", tmp_path / "o.npz"], capsys)
    assert status == 2 and "cut.npy" in err and len(err.strip().splitlines()) == 1


def _cli_option_named(option, value, message):
    def run(tmp_path, capsys):
        a, b = _good(tmp_path)
        start = time.perf_counter()
        status, err = _run_cli([a, b, "-o", tmp_path / "o.npz", option, value], capsys)
        assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert time.perf_counter() - start < 5.0
    return run


CLI = {
    "output is a device": _cli_device,
    "output or input is a pipe": _cli_fifo,
    "output is a symbolic link": _cli_symlink,
    "overwritten file keeps its mode": _cli_keeps_mode,
    "new file gets 0666 less the umask": _cli_new_file_mode,
    "failed run keeps the old output": _cli_failure_keeps_old_output,
    "four writers, one output": _cli_concurrent_writers,
    "an .npy of dates": _cli_npy_of_dates,
    "a pickled .npy": _cli_pickled_npy,
    "a truncated .npy": _cli_truncated_npy,
    "--n-init 1000000": _cli_option_named("--n-init", "1000000", "--n-init must be an int in"),
    "--sigma nan": _cli_option_named("--sigma", "nan", "--sigma must be a float in"),
    "--gamma0 -1": _cli_option_named("--gamma0", "-1", "--gamma0 must be a float in"),
}


@pytest.mark.parametrize("name", list(CLI))
def test_cli_probe(name, tmp_path, capsys):
    CLI[name](tmp_path, capsys)
