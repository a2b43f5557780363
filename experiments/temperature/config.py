"""Structured configs of the temperature experiment (types and unknown keys checked by Hydra).

Registered in Hydra's ConfigStore at import under ``schema/temperature``;
``conf/experiment/temperature.yaml`` lists them in its defaults. Ranges Hydra cannot express
("positive", "a silo of the data") are checked by :func:`experiments.temperature.validate`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

#: The paper's seven inputs (section 4.4), in this order (the default of ``data.inputs``).
INPUTS = ("day", "month", "year", "latitude", "longitude", "elevation", "prev_temp")
#: Every input a source provides: the paper's and the day of the year (weekly data, where
#: "day of month" is the week's first day and says little).
INPUT_NAMES = (*INPUTS, "day_of_year")


@dataclass
class StationCfg:
    """One weather5 city's airport station (degrees; elevation in metres)."""

    latitude: float = MISSING
    longitude: float = MISSING
    elevation: float = MISSING


@dataclass
class DataCfg:
    source: str = "gsod"                   # gsod | weather5 | us_weather
    root: str = MISSING
    silos: str = "state"                   # gsod, us_weather: state; weather5: city | city_year
    inputs: List[str] = field(default_factory=lambda: list(INPUTS))
    years: Optional[List[int]] = None      # keep these years only (null: all)
    min_rows_per_silo: int = 100           # drop silos with fewer rows
    test_fraction: float = 0.2             # per silo, random days
    validation_fraction: float = 0.2       # of each silo's training days, for choosing sigma/gamma0
    max_train_per_silo: Optional[int] = None
    max_test_per_silo: Optional[int] = None
    max_pooled_train: Optional[int] = None
    stations: Dict[str, StationCfg] = field(default_factory=dict)  # weather5 only


@dataclass
class ModelCfg:
    """Local sparse GPs (GPy SparseGPRegression, RBF kernel with ARD, standardised units)."""

    num_inducing: int = 50                 # the paper's local SGPs and the atoms fused by SPAHM
    num_inducing_large: int = 300          # the paper's larger local baseline
    pooled_num_inducing: int = 300         # SGP on pooled data (ours)
    max_iters: int = 300                   # L-BFGS-B iterations of the ELBO
    optimize_inducing: bool = True
    init_lengthscale: float = 1.0
    init_variance: float = 1.0
    init_noise_variance: float = 0.1
    output_weight: float = 1.0             # atom = [z / l, w * u] (standardised units)
    pseudo_noise: Any = "local"            # fused outputs' variance: from the local posterior
                                           # variances of the matched outputs, or a number
    input_scale: str = "kernels"           # atoms' inputs in the silos' shared lengthscales
                                           # (kernels) or in standardised units (none)
    dead_margin: Optional[float] = 2.0     # inducing points this many lengthscales outside the
                                           # silo's training inputs are not sent (null: all are)


@dataclass
class SelectionCfg:
    """The grid SPAHM's sigma and gamma0 are chosen from, on each silo's validation days."""

    sigma: List[float] = field(default_factory=lambda: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5])
    gamma0_per_silo: List[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])  # gamma0 / J
    criterion: str = "mean"                # validation RMSE minimised: self | across | mean
    max_extensions: int = 4                # chosen sigma at the grid's edge: extend it (x0.5
                                           # below, x2 above) up to this many times per side


@dataclass
class PlotCfg:
    silo: str = MISSING                    # the silo whose test days are plotted
    from_silo: str = MISSING               # whose models predict them in the across panel


store = ConfigStore.instance()
store.store(group="schema/temperature", name="data", node=DataCfg)
store.store(group="schema/temperature", name="model", node=ModelCfg)
store.store(group="schema/temperature", name="selection", node=SelectionCfg)
store.store(group="schema/temperature", name="plot", node=PlotCfg)
