"""Fully connected networks as local models: scikit-learn ``MLPClassifier`` / ``MLPRegressor``.

A hidden unit is a local atom (PFNM, Yurochkin et al., ICML 2019): its incoming weights, its
bias and, for the last hidden layer, its outgoing weights to the output layer, concatenated.
Silos that trained the same architecture on different data hold hidden units in an arbitrary
order (any permutation of a layer's units computes the same function), and units that learned
the same feature in two silos are noisy copies of one global unit: SPAHM matches them.

Layer by layer (one shot, no retraining; the matching order of FedMA, Wang et al., ICLR 2020):

1. Layer 1's atoms are ``[W_in[:, l], b[l]]`` (plus ``W_out[l, :]`` if it is the last hidden
   layer). :func:`spahm.match` fuses them into ``L_1`` global units and says which global
   unit every local unit is (``assignments``).
2. Layer ``h + 1``'s incoming weights come from layer ``h``'s units; row ``k`` of silo j's
   matrix is moved to row ``assignments[j][k]`` of a matrix with one row per *global* unit of
   layer ``h`` (global units silo j lacks get weight 0: its unit does not listen to them).
   In these common coordinates the next layer's units are atoms again, and so on.
3. A fused unit's weights (incoming, bias and, for the last hidden layer, outgoing) are the
   average of the local units matched to it, in those common coordinates. (SPAHM's posterior
   means would shrink every unit toward the prior mean ``mu0``, a unit held by one silo by
   ``sigma^2 / (sigma0^2 + sigma^2)``; on a validation split of digits that cost accuracy.)
   The output layer's weights are thus the average of the mapped outgoing weights over the
   silos that hold each global unit, and its bias is the mean of the silos' output biases.
   J permuted copies of one network fuse back to that network exactly.

Scaling (so the Gaussian costs are sensible): incoming and outgoing weights have different
magnitudes and the Gaussian costs add squared differences over all coordinates, so each block
is divided by its root mean square over every silo's units before matching (one scale for a
layer's incoming weights and biases, one for the outgoing weights) and multiplied back after.
In these units a weight has unit size: ``sigma0 = 1`` is the prior spread of the weights and
``sigma`` the spread of one silo's copy of a unit around the global unit, as a fraction of
that. Pass ``scale=False`` to match raw weights. The root mean square (not the standard
deviation) keeps 0 meaning "no connection", which step 2 relies on.

Limitations: hidden units of a ``tanh`` network have a sign symmetry (``-w`` with negated
outgoing weights computes the same function; ``logistic`` the same up to the next layer's
bias) that matching by Euclidean distance does not undo (PFNM does not either); ``relu``
networks have none. One-shot fusion of deeper networks degrades layer by layer (FedMA
retrains between layers; this does not). Classifiers must
share their classes: fit each silo with ``partial_fit(X, y, classes=all_classes)`` when a
silo lacks some classes.
"""
from __future__ import annotations

import copy

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils.validation import check_is_fitted

from .._validation import check_weights
from ..adapters import Adapter, LocalAtoms, group_average, register_adapter
from ..estimator import match

# A block of weights that is all zeros has root mean square 0; dividing by this instead
# leaves it unscaled (all its coordinates are 0 anyway).
_SCALE_FLOOR = 1e-12


# ---------------------------------------------------------------------------- validation
def check_networks(models):
    """Check that ``models`` are fitted MLPs of one kind and shape; return ``(models, kind)``.

    Raises
    ------
    ValueError
        Empty list, a model that is not an ``MLPClassifier`` / ``MLPRegressor``, classifiers
        mixed with regressors, or networks that disagree on their inputs, outputs, classes,
        activation or number of hidden layers (the message names the model and the field).
    sklearn.exceptions.NotFittedError
        A network that is not fitted (names it).
    """
    models = list(models)
    if not models:
        raise ValueError("models is empty: expected a list of fitted MLPs, one per silo")
    for j, m in enumerate(models):
        if not isinstance(m, (MLPClassifier, MLPRegressor)):
            raise ValueError(f"model {j} is a {type(m).__name__}: expected a scikit-learn "
                             "MLPClassifier or MLPRegressor")
        try:
            check_is_fitted(m, "coefs_")
        except NotFittedError:
            raise NotFittedError(f"model {j} ({type(m).__name__}) is not fitted: call fit or "
                                 "partial_fit on its silo's data before fusing") from None
    kind = MLPClassifier if isinstance(models[0], MLPClassifier) else MLPRegressor
    first = models[0]
    for j, m in enumerate(models[1:], start=1):
        if not isinstance(m, kind):
            raise ValueError(f"model {j} is a {type(m).__name__} but model 0 is a "
                             f"{kind.__name__}: fuse classifiers or regressors, not both")
        if kind is MLPClassifier and not np.array_equal(m.classes_, first.classes_):
            raise ValueError(
                f"model {j} has classes {m.classes_.tolist()} but model 0 has "
                f"{first.classes_.tolist()}: fit every silo with "
                "partial_fit(X, y, classes=all_classes) so the output layers line up")
        checks = [("n_features_in_ (input size)", m.n_features_in_, first.n_features_in_),
                  ("n_outputs_ (output size)", m.n_outputs_, first.n_outputs_),
                  ("number of hidden layers", m.n_layers_ - 2, first.n_layers_ - 2),
                  ("activation", m.activation, first.activation),
                  ("out_activation_", m.out_activation_, first.out_activation_)]
        for field, got, want in checks:
            if got != want:
                raise ValueError(f"model {j} has {field} {got!r} but model 0 has {want!r}: "
                                 "fused networks must share inputs, outputs and depth")
    if first.n_layers_ < 3:
        raise ValueError("the networks have no hidden layer: nothing to match")
    return models, kind


# ---------------------------------------------------------------------------- atoms
def _rms(blocks):
    """Root mean square of every entry of a list of arrays (floored, see _SCALE_FLOOR)."""
    total = sum(float(np.square(b).sum()) for b in blocks)
    count = sum(b.size for b in blocks)
    return max(np.sqrt(total / max(count, 1)), _SCALE_FLOOR)


def layer_atoms(models, layer, row_maps, n_rows, scale=True):
    """The local atoms of hidden layer ``layer`` of every network, in common coordinates.

    Parameters
    ----------
    models : list of fitted MLPs
    layer : int
        Hidden layer index (0 = first).
    row_maps : list of ndarray
        For each silo, the global index of each unit feeding this layer (the inputs
        ``arange(n_features)`` for layer 0, the previous layer's assignment after).
    n_rows : int
        Number of units feeding this layer in the fused network.
    scale : bool
        Divide the incoming block (weights and bias) and the outgoing block by their root mean
        squares over all silos.

    Returns
    -------
    atoms : list of ndarray (L_j, n_rows + 1 [+ n_outputs])
        ``[incoming weights, bias]``, plus the outgoing weights for the last hidden layer.
    scales : ndarray (n_rows + 1 [+ n_outputs],)
        What each coordinate was divided by (1 where unscaled).
    """
    last = layer == models[0].n_layers_ - 3
    incoming = []
    for m, rows in zip(models, row_maps):
        w, b = m.coefs_[layer], m.intercepts_[layer]
        mapped = np.zeros((n_rows, w.shape[1]))
        mapped[rows] = w
        incoming.append(np.vstack([mapped, b[None, :]]).T)  # (L_j, n_rows + 1)
    s_in = _rms([np.vstack([m.coefs_[layer], m.intercepts_[layer][None]]) for m in models]) \
        if scale else 1.0
    scales = np.full(n_rows + 1, s_in)
    if last:
        outgoing = [np.asarray(m.coefs_[layer + 1], dtype=float) for m in models]
        s_out = _rms(outgoing) if scale else 1.0
        incoming = [np.hstack([a, o]) for a, o in zip(incoming, outgoing)]
        scales = np.concatenate([scales, np.full(outgoing[0].shape[1], s_out)])
    return [a / scales for a in incoming], scales


# ---------------------------------------------------------------------------- fusion
def fuse_networks(models, *, scale=True, weights=None, **kwargs):
    """Fuse fitted MLPs trained on different silos into one network, layer by layer.

    Parameters
    ----------
    models : list of fitted ``MLPClassifier`` or list of fitted ``MLPRegressor``
        One per silo: same inputs, outputs (and classes), activation and number of hidden
        layers; the hidden layers' sizes may differ.
    scale : bool, default True
        Match weights in units of their root mean square (see the module docstring).
    weights : array-like (J,) or None
        Per-silo weights (e.g. silo sizes): a fused unit is the weighted average of the local
        units matched to it, the output bias the weighted mean of the silos'. ``None``:
        silos weigh equally.
    **kwargs
        Any :class:`spahm.SPAHM` argument (``sigma``, ``sigma0``, ``gamma0``,
        ``max_global_atoms``, ``random_state``, ...), used for every layer.

    Returns
    -------
    MLPClassifier or MLPRegressor
        Fitted (predicts), with the silos' hyperparameters, ``hidden_layer_sizes`` the numbers
        of global units, and ``fusion_`` (one :class:`spahm.MatchResult` per hidden layer) and
        ``local_to_global_`` (per hidden layer, per silo, the global unit of each local unit).

    Raises
    ------
    ValueError, NotFittedError
        See :func:`check_networks`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPClassifier
    >>> from spahm.models.mlp import fuse_networks
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4)); y = (X[:, 0] > 0).astype(int)
    >>> nets = [MLPClassifier(hidden_layer_sizes=(8,), max_iter=2000, random_state=j)
    ...         .fit(X[j::2], y[j::2]) for j in range(2)]
    >>> fused = fuse_networks(nets, random_state=0)
    >>> fused.predict(X).shape, len(fused.fusion_)
    ((200,), 1)
    """
    models, _ = check_networks(models)
    if not isinstance(scale, (bool, np.bool_)):
        raise ValueError(f"scale must be True or False, got {scale!r}")
    silo_weights = None if weights is None else check_weights(weights, len(models), "network")
    n_hidden = models[0].n_layers_ - 2
    row_maps = [np.arange(models[0].n_features_in_)] * len(models)
    n_rows = models[0].n_features_in_
    coefs, intercepts, results = [], [], []
    for layer in range(n_hidden):
        atoms, scales = layer_atoms(models, layer, row_maps, n_rows, scale)
        result = match(atoms, **kwargs)
        units = fused_units(atoms, scales, result, silo_weights)
        coefs.append(units[:, :n_rows].T.copy())
        intercepts.append(units[:, n_rows].copy())
        outgoing = units[:, n_rows + 1:]  # the last hidden layer's outgoing weights
        results.append(result)
        row_maps, n_rows = result.assignments, result.n_global_atoms
    coefs.append(outgoing.copy())
    intercepts.append(output_bias(models, silo_weights))
    fused = network_from_weights(models[0], coefs, intercepts)
    fused.fusion_ = results
    fused.local_to_global_ = [r.assignments for r in results]
    return fused


def fused_units(atoms, scales, result, silo_weights=None):
    """Weights of every global unit, (L, n_rows + 1 [+ n_outputs]): the average of the
    (unscaled) local atoms the matching ``result`` put on it, weighted by their silos'
    ``silo_weights`` (equal when None)."""
    unit_weights = None if silo_weights is None else [
        np.full(len(a), w) for a, w in zip(atoms, silo_weights)]
    return group_average([a * scales for a in atoms], result.assignments, result.n_global_atoms,
                         unit_weights)


def output_bias(models, silo_weights=None):
    """The fused output layer's bias: the (weighted) mean of the silos' output biases."""
    return np.average([m.intercepts_[-1] for m in models], axis=0, weights=silo_weights)


def network_from_weights(template, coefs, intercepts):
    """A fitted copy of ``template`` (an MLP) with the given weights and matching layer sizes.

    The hyperparameters are ``template``'s (``clone``), ``hidden_layer_sizes`` follows the
    weights; classes, output activation and input size are copied from ``template``.
    """
    net = clone(template)
    net.set_params(hidden_layer_sizes=tuple(int(c.shape[1]) for c in coefs[:-1]))
    net.coefs_ = [np.asarray(c, dtype=float) for c in coefs]
    net.intercepts_ = [np.asarray(b, dtype=float) for b in intercepts]
    net.n_layers_ = len(coefs) + 1
    net.n_outputs_ = template.n_outputs_
    net.out_activation_ = template.out_activation_
    net.n_features_in_ = template.n_features_in_
    if hasattr(template, "feature_names_in_"):
        net.feature_names_in_ = template.feature_names_in_.copy()
    net.n_iter_, net.t_ = 0, 0
    if isinstance(template, MLPClassifier):
        net.classes_ = template.classes_.copy()
        net._label_binarizer = copy.deepcopy(template._label_binarizer)
    return net


def average_networks(models):
    """One-shot weight averaging (FedAvg's single round): every weight averaged by index.

    The baseline matching is meant to beat: unit ``l`` of one silo is averaged with unit
    ``l`` of every other silo, whatever each learned. Needs equal layer sizes.
    """
    models, _ = check_networks(models)
    sizes = [tuple(c.shape for c in m.coefs_) for m in models]
    for j, s in enumerate(sizes):
        if s != sizes[0]:
            raise ValueError(f"model {j} has weight shapes {s} but model 0 has {sizes[0]}: "
                             "averaging by index needs identical architectures")
    coefs = [np.mean([m.coefs_[i] for m in models], axis=0) for i in range(len(sizes[0]))]
    intercepts = [np.mean([m.intercepts_[i] for m in models], axis=0)
                  for i in range(len(sizes[0]))]
    return network_from_weights(models[0], coefs, intercepts)


# ---------------------------------------------------------------------------- adapter
class MLPAdapter(Adapter):
    """``fuse_models`` for scikit-learn MLPs: layer by layer, through :func:`fuse_networks`.

    ``extract`` gives the first hidden layer's atoms (unscaled); ``fuse`` runs the whole
    layer-wise fusion (several matchings, so it replaces ``match`` + ``build``); ``build``
    rebuilds a one-hidden-layer network (PFNM) from a matching of those atoms. Per-silo
    ``weights`` weigh the averaged units; networks have no use for the silos' data, and
    their atoms have no variances (``use_variances`` changes nothing).
    """

    name = "sklearn MLPClassifier / MLPRegressor"
    uses_weights = True

    def matches(self, model):
        return isinstance(model, (MLPClassifier, MLPRegressor))

    def extract(self, model, data=None):
        check_networks([model])
        n = model.n_features_in_
        atoms, _ = layer_atoms([model], 0, [np.arange(n)], n, scale=False)
        return LocalAtoms(atoms[0])

    def fuse(self, models, data=None, *, weights=None, use_variances=True, family=None,
             **kwargs):
        if data is not None:
            raise ValueError(f"data: the {self.name} adapter does not use the silos' data "
                             "(pass data=None)")
        if family is not None:
            kwargs["family"] = family
        return fuse_networks(models, weights=weights, **kwargs)

    def build(self, result, locals_, models):
        models, _ = check_networks(models)
        if models[0].n_layers_ != 3:
            raise ValueError("build() rebuilds one-hidden-layer networks from one matching; "
                             "fuse deeper networks with fuse_networks (layer by layer)")
        n = models[0].n_features_in_
        silo_weights = np.array([x.extra.get("silo_weight", 1.0) for x in locals_])
        units = fused_units([x.atoms for x in locals_], np.ones(locals_[0].atoms.shape[1]),
                            result, silo_weights)
        net = network_from_weights(models[0], [units[:, :n].T.copy(), units[:, n + 1:].copy()],
                                   [units[:, n].copy(), output_bias(models, silo_weights)])
        net.fusion_ = [result]
        return net


register_adapter(MLPAdapter(), first=False)
