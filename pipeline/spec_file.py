"""``--spec FILE``: the options of ``edgeprof optimize`` in a TOML file, under the same names.

    # spec.toml
    runtimes = ["onnxruntime", "openvino"]
    precisions = ["fp32", "int8-static"]
    prune = ["none", "channels=0.2"]
    batch = [1, 8]
    search = "wide"
    max_accuracy_loss = 0.005
    [shape]
    input_ids = "1x128"

Options given on the command line win over the file. Unknown keys are an error naming them, so a
misspelt option is not silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.errors import InputError

#: option name -> how a file value becomes the command-line value ("csv": a list or a string)
SPEC_KEYS: dict[str, str] = {
    "calib": "path",
    "eval": "path",
    "out": "path",
    "targets": "csv",
    "batch": "csv",
    "precisions": "csv",
    "runtimes": "csv",
    "prune": "csv",
    "search": "text",
    "metric": "text",
    "build_jobs": "int",
    "sla_p99_ms": "number",
    "max_accuracy_loss": "number",
    "min_duration": "number",
    "warmup": "number",
    "shape": "shapes",
}


def load_spec(path: Path) -> dict[str, Any]:
    """The file's options as command-line values; InputError naming the file and the problem."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise InputError(f"--spec {path}: cannot read it ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"--spec {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise InputError(f"--spec {path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(SPEC_KEYS)}")
    return {key: _value(path, key, SPEC_KEYS[key], value) for key, value in data.items()}


def _value(path: Path, key: str, kind: str, value: Any) -> Any:
    where = f"--spec {path}: {key}"
    if kind == "csv":
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        if isinstance(value, str | int):
            return str(value)
    elif kind == "path" and isinstance(value, str):
        return (Path(path).parent / value) if not Path(value).is_absolute() else Path(value)
    elif kind == "text" and isinstance(value, str):
        return value
    elif kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    elif kind == "shapes" and isinstance(value, Mapping):
        return [f"{name}={dims if isinstance(dims, str) else 'x'.join(map(str, dims))}" for name, dims in value.items()]
    raise InputError(f"{where} has the wrong type ({type(value).__name__}); see `edgeprof optimize --help`")
