"""Adapters: fuse tiny fitted scikit-learn, GPy and HDP-HMM models, then predict with the result."""
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.decomposition import LatentDirichletAllocation
from sklearn.mixture import GaussianMixture

from spahm import adapters, fuse_models
from spahm.models import hdp_hmm, mixture, sparse_gp
from spahm.metrics import hausdorff

CENTRES = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0], [12.0, 12.0]])


def _silos(seed=0, J=4, n=240):
    rng = np.random.default_rng(seed)
    data, kept = [], []
    for j in range(J):
        keep = np.sort(rng.choice(4, size=3, replace=False))
        data.append(CENTRES[keep][rng.integers(0, 3, n)] + rng.normal(0, 0.6, (n, 2)))
        kept.append(keep)
    return data, kept


def test_kmeans_fused_centres_and_predict():
    data, _ = _silos()
    local = [KMeans(3, n_init=3, random_state=0).fit(x) for x in data]
    fused = fuse_models(local, data=data, random_state=0)
    assert isinstance(fused, mixture.FusedKMeans)
    assert fused.n_clusters == 4
    assert hausdorff(fused.cluster_centers_, CENTRES) < 0.3
    labels = fused.predict(CENTRES + 0.1)
    assert sorted(labels.tolist()) == [0, 1, 2, 3]
    assert fused.popularity_.sum() == 12 and len(fused.local_to_global_) == 4
    assert fused.transform(CENTRES).shape == (4, 4) and fused.score(CENTRES) > -1.0


def test_kmeans_variances_from_data_are_centroid_variances():
    data, _ = _silos()
    model = KMeans(3, n_init=3, random_state=0).fit(data[0])
    extracted = mixture.KMeansAdapter().extract(model, data[0])
    labels = model.predict(data[0])
    members = data[0][labels == 0]
    np.testing.assert_allclose(extracted.variances[0], members.var(0, ddof=1) / len(members))
    assert mixture.KMeansAdapter().extract(model).variances is None


def test_gaussian_mixture_becomes_a_gaussian_mixture():
    data, _ = _silos(seed=1)
    local = [GaussianMixture(3, random_state=0).fit(x) for x in data]
    fused = fuse_models(local, data=data, random_state=0)
    assert isinstance(fused, GaussianMixture) and fused.n_components == 4
    assert hausdorff(fused.means_, CENTRES) < 0.3
    assert fused.weights_.sum() == pytest.approx(1.0)
    # local weights summed per global component (silos weigh equally), normalised
    mass = np.zeros(fused.n_components)
    for m, a in zip(local, fused.local_to_global_):
        np.add.at(mass, a, m.weights_)
    np.testing.assert_allclose(fused.weights_, mass / len(local))
    # its covariances are the local ones averaged: about 0.36 I
    np.testing.assert_allclose(fused.covariances_, np.tile(0.36 * np.eye(2), (4, 1, 1)), atol=0.12)
    probe = CENTRES + 0.2
    assert sorted(fused.predict(probe).tolist()) == [0, 1, 2, 3]
    np.testing.assert_allclose(fused.predict_proba(probe).sum(1), 1.0)
    assert np.isfinite(fused.score_samples(probe)).all()


def test_lda_becomes_an_lda_that_transforms():
    rng = np.random.default_rng(0)
    V = 12
    topics = np.zeros((3, V))
    for k in range(3):
        topics[k, 4 * k: 4 * k + 4] = 0.25
    local = []
    for j in range(3):
        weights = rng.dirichlet(np.full(3, 0.3), size=60)
        docs = np.array([rng.multinomial(40, w @ topics) for w in weights])
        local.append(LatentDirichletAllocation(3, random_state=j, max_iter=30).fit(docs))
    fused = fuse_models(local, random_state=0)
    assert isinstance(fused, LatentDirichletAllocation)
    assert fused.n_components == 3
    probs = fused.components_ / fused.components_.sum(1, keepdims=True)
    assert hausdorff(probs, topics) < 0.1
    doc = np.zeros((1, V))
    doc[0, :4] = 10
    theta = fused.transform(doc)
    assert theta.shape == (1, 3) and theta.max() > 0.8
    assert fused.fusion_.hyperparameters["concentration"] > 1


def _lda_models(V=12, J=3):
    rng = np.random.default_rng(0)
    topics = np.zeros((3, V))
    for k in range(3):
        topics[k, 4 * k: 4 * k + 4] = 0.25
    local = []
    for j in range(J):
        weights = rng.dirichlet(np.full(3, 0.3), size=60)
        docs = np.array([rng.multinomial(40, w @ topics) for w in weights])
        local.append(LatentDirichletAllocation(3, random_state=j, max_iter=30).fit(docs))
    return local


def test_lda_concentration_changes_the_matching_only():
    """Multinomial(concentration=) once changed both the matching and the fused topics'
    smoothing (perplexity 18k vs 42k at the same matching). Same matching -> same model."""
    from spahm.families import Multinomial

    local = _lda_models()
    low = fuse_models(local, family=Multinomial(concentration=5.0), random_state=0)
    high = fuse_models(local, family=Multinomial(concentration=1000.0), random_state=0)
    # the same grouping (global topics may be numbered differently)
    pairs = set(zip(np.concatenate(low.local_to_global_).tolist(),
                    np.concatenate(high.local_to_global_).tolist()))
    assert len(pairs) == low.n_components == high.n_components
    order = [dict(pairs)[i] for i in range(low.n_components)]
    np.testing.assert_allclose(low.components_, high.components_[order], rtol=1e-12)
    # a fused topic is the matched local topics' pooled pseudo-counts, at their mean size
    first = [m.components_[a == 0] for m, a in zip(local, low.local_to_global_)]
    pooled = np.vstack(first).sum(0)
    size = np.mean([r.sum() for r in np.vstack(first)])
    np.testing.assert_allclose(low.components_[0], pooled / pooled.sum() * size, rtol=1e-10)


def test_lda_silos_need_one_vocabulary():
    local = _lda_models()[:2]
    rng = np.random.default_rng(1)
    local.append(LatentDirichletAllocation(3, random_state=0, max_iter=5).fit(
        rng.integers(0, 5, (30, 10))))
    with pytest.raises(ValueError, match="model 2 has a vocabulary of 10 words but model 0 has 12"):
        fuse_models(local)


def test_gpy_sparse_gp_becomes_a_sparse_gp():
    GPy = pytest.importorskip("GPy")
    rng = np.random.default_rng(0)
    Z0 = np.linspace(-3, 3, 6)[:, None]
    local = []
    for j in range(3):
        np.random.seed(j)
        X = rng.uniform(-3, 3, (60, 1))
        y = np.sin(X) + rng.normal(0, 0.05, X.shape)
        m = GPy.models.SparseGPRegression(X, y, kernel=GPy.kern.RBF(1, lengthscale=1.0),
                                          Z=Z0 + rng.normal(0, 0.02, Z0.shape))
        m.likelihood.variance = 0.01
        local.append(m)
    extracted = sparse_gp.SparseGPAdapter().extract(local[0])
    assert extracted.atoms.shape == (6, 2) and (extracted.variances[:, 0] == 0).all()
    fused = fuse_models(local, random_state=0, sigma=0.1, sigma0=2.0)
    assert isinstance(fused, sparse_gp.FusedSparseGP)  # the paper's: fused points, each silo's kernel
    assert len(fused.inducing_inputs) == fused.fusion_.n_global_atoms
    mean = fused.predict(np.array([[0.5], [1.5]]), silo=0)
    np.testing.assert_allclose(mean, np.sin([0.5, 1.5]), atol=0.15)


def test_hdp_hmm_states_fuse_into_an_hmm():
    hdp = hdp_hmm
    rng = np.random.default_rng(0)
    means = np.array([[-6.0, 0.0], [6.0, 0.0], [0.0, 6.0]])

    def sequence(states):
        z = np.repeat(states, 40)
        return means[z] + rng.normal(0, 0.5, (len(z), 2)), z

    x1, _ = sequence([0, 1, 0, 1])
    x2, _ = sequence([1, 2, 1, 2])
    local = [hdp.StickyHDPHMM(n_states=6, n_iter=20, n_restarts=1, random_state=j).fit([x])
             for j, x in enumerate((x1, x2))]
    fused = fuse_models(local, random_state=0)
    assert isinstance(fused, hdp_hmm.FusedGaussianHMM)
    assert fused.n_states_ == 3 and hausdorff(fused.means_, means) < 0.3
    np.testing.assert_allclose(fused.transmat_.sum(1), 1.0)
    x3, z3 = sequence([0, 2, 1])
    path = fused.predict(x3)
    # the Viterbi path is the true segmentation up to relabelling
    order = [int(np.argmin(((fused.means_ - m) ** 2).sum(1))) for m in means]
    assert (path == np.array(order)[z3]).mean() > 0.95
    assert np.isfinite(fused.log_likelihood(x3))


def test_register_a_custom_adapter():
    class Centroids:
        def __init__(self, c):
            self.c = np.asarray(c, dtype=float)

    class CentroidsAdapter(adapters.Adapter):
        name = "toy centroids"

        def matches(self, model):
            return isinstance(model, Centroids)

        def extract(self, model, data=None):
            return adapters.LocalAtoms(model.c)

        def build(self, result, locals_, models):
            return Centroids(result.global_atoms)

    adapter = adapters.register_adapter(CentroidsAdapter())
    try:
        fused = fuse_models([Centroids(CENTRES[:3]), Centroids(CENTRES[1:] + 0.01)],
                            random_state=0)
        assert isinstance(fused, Centroids) and len(fused.c) == 4
    finally:
        adapters._REGISTRY.remove(adapter)


def test_bad_inputs_name_the_problem():
    data, _ = _silos()
    km = KMeans(3, n_init=1, random_state=0).fit(data[0])
    gm = GaussianMixture(3, random_state=0).fit(data[0])
    with pytest.raises(ValueError, match="model 1 is a GaussianMixture"):
        fuse_models([km, gm])
    with pytest.raises(ValueError, match="no adapter for a builtins.str"):
        fuse_models(["not a model"])
    with pytest.raises(ValueError, match="models is empty"):
        fuse_models([])
    with pytest.raises(ValueError, match="data has 1 entries but there are 2 models"):
        fuse_models([km, km], data=[data[0]])
    with pytest.raises(ValueError, match="has no method matches"):
        adapters.register_adapter(object())


# ------------------------------------------------------------------ fused models are estimators
def test_fused_kmeans_is_a_scikit_learn_estimator():
    import pickle

    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    data, _ = _silos()
    local = [KMeans(3, n_init=3, random_state=0).fit(x) for x in data]
    fused = fuse_models(local, data=data, random_state=0)
    params = fused.get_params()
    assert set(params) == {"cluster_centers", "popularity"}
    twin = clone(fused).fit()
    np.testing.assert_array_equal(twin.predict(CENTRES), fused.predict(CENTRES))
    assert repr(fused).startswith("FusedKMeans(cluster_centers=")
    again = pickle.loads(pickle.dumps(fused))
    np.testing.assert_array_equal(again.predict(CENTRES), fused.predict(CENTRES))
    pipe = make_pipeline(FunctionTransformer(lambda x: x + 0.0), clone(fused)).fit(data[0])
    np.testing.assert_array_equal(pipe.predict(CENTRES), fused.predict(CENTRES))
    assert fused.fit_predict(CENTRES).tolist() == fused.predict(CENTRES).tolist()
    assert fused.fit_transform(CENTRES).shape == (4, 4)


class _CheckedFusedKMeans(mixture.FusedKMeans):
    """FusedKMeans whose default centres fit the width of the checks' data."""

    def fit(self, X=None, y=None):
        if self.cluster_centers is None and X is not None:
            shape = np.asarray(X).shape
            width = shape[1] if len(shape) == 2 else 1
            fitted = mixture.FusedKMeans(cluster_centers=np.eye(2, max(width, 1))).fit(X)
            self.__dict__.update({k: v for k, v in vars(fitted).items() if k.endswith("_")})
            return self
        return super().fit(X, y)


@pytest.mark.parametrize("check", [
    "check_get_params_invariance", "check_set_params", "check_no_attributes_set_in_init",
    "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_pickle", "check_fit_check_is_fitted", "check_n_features_in",
    "check_estimators_nan_inf", "check_transformer_data_not_an_array",
    "check_fit2d_1sample", "check_fit2d_1feature", "check_estimators_empty_data_messages",
    "check_parameters_default_constructible", "check_estimator_repr",
])
def test_fused_kmeans_passes_scikit_learn_checks(check):
    """The scikit-learn estimator checks that apply: FusedKMeans does not learn its centres
    from X (they come from fusion), so it is checked with centres of the checks' width."""
    from sklearn.utils import estimator_checks

    getattr(estimator_checks, check)("FusedKMeans", _CheckedFusedKMeans())


def test_gaussian_mixture_weights_use_local_weights_and_silo_sizes():
    rng = np.random.default_rng(0)
    a = np.vstack([rng.normal(0, 0.3, (90, 2)), rng.normal(10, 0.3, (10, 2))])   # 90% / 10%
    b = np.vstack([rng.normal(0, 0.3, (50, 2)), rng.normal(10, 0.3, (50, 2))])   # 50% / 50%
    local = [GaussianMixture(2, random_state=0).fit(x) for x in (a, b)]
    equal = fuse_models(local, random_state=0, sigma=0.3, sigma0=5.0)
    near_zero = equal.predict([[0.0, 0.0]])[0]
    assert equal.weights_[near_zero] == pytest.approx((0.9 + 0.5) / 2, abs=0.01)
    sized = fuse_models(local, weights=[900, 100], random_state=0, sigma=0.3, sigma0=5.0)
    assert sized.weights_[sized.predict([[0.0, 0.0]])[0]] == pytest.approx(0.86, abs=0.01)
