"""The run's config: checks of the runner's keys before any work, resumability, and the
overrides a run shows (all from one table of what each root key does to the numbers:
:data:`experiments._schema.KEY_ROLES`)."""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from experiments._files import ROOT
from experiments._schema import keys_with_role
from experiments.errors import ConfigError


def require(cfg, key, check, expected):
    """Raise :class:`ConfigError` naming ``key`` unless ``check(value)`` holds."""
    value = OmegaConf.select(cfg, key, throw_on_missing=False)
    try:
        ok = value is not None and check(value)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"config key '{key}' = {value!r}: expected {expected}")
    return value


def output_dir(cfg) -> Path:
    """The run directory: ``cfg.output_dir`` if set, else Hydra's, else the working directory."""
    explicit = OmegaConf.select(cfg, "output_dir", default=None)
    if explicit:
        return Path(explicit)
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        return Path.cwd()


def check_runner_config(cfg):
    """Ranges of the runner's root keys that the schema's types cannot express; raises
    :class:`ConfigError` naming the key. Called before anything is written."""
    from experiments._schema import BACKENDS, DIRECTIONS

    def get(key):
        return OmegaConf.select(cfg, key, default=None, throw_on_missing=False)

    seed = get("seed")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"config key 'seed' = {seed!r}: expected an integer >= 0 (the root of "
                          "numpy's SeedSequence)")
    trials = get("trials")
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ConfigError(f"config key 'trials' = {trials!r}: expected an integer >= 1")
    threads = get("threads")
    if threads is not None and (isinstance(threads, bool)
                                or not isinstance(threads, (int, np.integer)) or threads < 1):
        raise ConfigError(f"config key 'threads' = {threads!r}: expected an integer >= 1 (BLAS "
                          "and OpenMP threads per process) or null (the environment's)")
    n_jobs = get("n_jobs")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer))
                               or n_jobs == 0 or n_jobs < -1):
        raise ConfigError(f"config key 'n_jobs' = {n_jobs!r}: expected an integer >= 1, or -1 "
                          "for every core")
    backend = get("parallel.backend")
    if backend is not None and backend not in BACKENDS:
        raise ConfigError(f"config key 'parallel.backend' = {backend!r}: expected one of "
                          f"{list(BACKENDS)}")
    direction = get("objective.direction")
    if direction is not None and direction not in DIRECTIONS:
        raise ConfigError(f"config key 'objective.direction' = {direction!r}: expected one of "
                          f"{list(DIRECTIONS)}")


#: Keys a resumed run may change: more trials or grid points add rows keyed by setting and
#: trial; the others do not change any number.
RESUMABLE = keys_with_role("execution", "extent")
#: Keys left out of a run's overrides (figure titles): its identity and how it ran.
NOT_OVERRIDES = keys_with_role("identity", "execution")


def _flatten(node, prefix=""):
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_resumable(cfg, out_dir):
    """Raise :class:`ConfigError` if ``out_dir`` holds trials run with another config.

    Only the keys in :data:`RESUMABLE_KEYS` may differ, so a resumed run never mixes trials
    of different settings in one CSV.
    """
    saved_path = Path(out_dir) / "config.yaml"
    if not saved_path.is_file():
        return
    saved = _flatten(OmegaConf.to_container(OmegaConf.load(saved_path), resolve=True))
    now = _flatten(OmegaConf.to_container(cfg, resolve=True))
    absent = "<absent>"
    # A key added to the configs after the run is fine while it is null: new keys default to
    # null meaning "as before", so older run directories stay resumable.
    changed = [
        f"{key}: {saved.get(key, absent)!r} there, {now.get(key, absent)!r} now"
        for key in sorted(set(saved) | set(now))
        if key.split(".")[0] not in RESUMABLE and saved.get(key, absent) != now.get(key, absent)
        and not (key not in saved and now[key] is None)
    ]
    if changed:
        raise ConfigError(
            f"{out_dir} holds trials run with another config ({'; '.join(changed)}). "
            "Resume with the same config, write to another directory, or pass resume=false "
            "to start it over.")


@lru_cache(maxsize=16)
def _profile_defaults(name, profile):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from experiments.registry import register_configs

    register_configs()
    overrides = [f"experiment={name}", f"profile={profile}"]
    if GlobalHydra.instance().is_initialized():  # inside a Hydra app: its config dir is ours
        cfg = compose(config_name="config", overrides=overrides)
    else:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose(config_name="config", overrides=overrides)
    return _flatten(OmegaConf.to_container(cfg, resolve=True))


def run_overrides(cfg) -> list[str]:
    """``key=value`` for every key of a run's config that differs from its experiment and
    profile's defaults (works on a saved config.yaml as well as on a live config)."""
    if cfg is None:
        return []
    try:
        now = _flatten(OmegaConf.to_container(cfg, resolve=True))
        defaults = _profile_defaults(now.get("name"), now.get("profile"))
    except Exception:  # noqa: BLE001 - unknown experiment or profile: no overrides to show
        return []
    absent = object()
    out = []
    for key in now:
        value = now[key]
        if key.split(".")[0] in NOT_OVERRIDES or defaults.get(key, absent) == value:
            continue
        if isinstance(value, str) and ("/" in value or "\\" in value):
            continue  # data paths differ between machines; they are not part of the experiment
        out.append(f"{key}={value}")
    return out


def check_fusion(cfg):
    """The ``fusion`` section (keyword arguments of :class:`spahm.SPAHM`) against the library's
    own ``_parameter_constraints``, before any work: a :class:`ConfigError` naming the key
    (``fusion.n_init=0``, ``fusion.sigma=inf``, ``fusion.mu0=nan``...)."""
    fusion = OmegaConf.select(cfg, "fusion", default=None)
    if fusion is None:
        return
    from spahm import SPAHM
    from spahm._validation import check_params

    values = OmegaConf.to_container(fusion, resolve=True)
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config key 'fusion.{key}' = {value!r}: expected a finite number")
    try:
        check_params(values, SPAHM, caller="SPAHM", prefix="fusion.")
    except ValueError as exc:
        key = str(exc).split(":", 1)[0]
        raise ConfigError(f"config key '{key}' = {values.get(key[len('fusion.'):])!r}: "
                          f"{str(exc).split(':', 1)[1].strip()}") from None
