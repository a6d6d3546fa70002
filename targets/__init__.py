"""The target catalogue: one YAML profile per device kind, with a source for every figure.

Both sides read it: the pipeline (what to build for whom, cost model, roofline) and the agent (which
sensors and rails to expect, which profile this device is). Python 3.8, PyYAML and stdlib only.

    from targets import load_profiles
    catalog = load_profiles(extra_dirs=["./my-targets"])
    orin = catalog.require("jetson-orin-nano-8gb")
    orin.peak_compute("int8", mode="MAXN_SUPER")      # Figure(value=67.0, unit='TOPS', sparse=True, ...)
    orin.power_sensing.total_rail                      # 'VDD_IN'
"""

from targets.profiles import (
    ENV_VAR,
    SHIPPED_DIR,
    Catalog,
    ProfileError,
    UnknownTargetError,
    load_profile,
    load_profiles,
)
from targets.schema import (
    PRECISIONS,
    UNITS,
    Figure,
    HostFacts,
    MatchRules,
    PowerMode,
    PowerSensing,
    Price,
    Runtime,
    SoftwareLine,
    Source,
    TargetProfile,
)

__all__ = [
    "ENV_VAR",
    "PRECISIONS",
    "SHIPPED_DIR",
    "UNITS",
    "Catalog",
    "Figure",
    "HostFacts",
    "MatchRules",
    "PowerMode",
    "PowerSensing",
    "Price",
    "ProfileError",
    "Runtime",
    "SoftwareLine",
    "Source",
    "TargetProfile",
    "UnknownTargetError",
    "load_profile",
    "load_profiles",
]
