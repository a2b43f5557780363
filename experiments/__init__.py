"""The paper's experiments: one module per application, driven by Hydra configs in ``conf/``."""

#: Experiment name (config ``name``) -> module under ``experiments``.
EXPERIMENTS = ("simulated", "topics", "mocap", "temperature", "uncertainty")
