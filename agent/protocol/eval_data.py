"""The evaluation-data layout the host packs and the agent reads: one ``.npz`` file.

Arrays (the first axis counts samples in each)::

    input:<name>     one per model input, named after it
    labels           optional: integer class per sample
    reference:0      optional: the FP32 model's first output on the host, the fidelity reference

numpy is imported inside the functions: the rest of the protocol needs only the standard library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from agent.errors import ProtocolError

INPUT_PREFIX = "input:"
LABELS = "labels"
REFERENCE = "reference:0"
MEDIA_TYPE = "application/x-npz"


def write_eval_set(
    path: Path, inputs: Dict[str, Any], reference: Optional[Any] = None, labels: Optional[Any] = None
) -> None:
    """Write the layout to ``path`` (an ``.npz``)."""
    import numpy as np

    arrays = {INPUT_PREFIX + name: value for name, value in inputs.items()}
    if reference is not None:
        arrays[REFERENCE] = reference
    if labels is not None:
        arrays[LABELS] = labels
    np.savez(str(path), **arrays)


def read_eval_set(path: Path) -> Tuple[Dict[str, Any], Optional[Any], Optional[Any]]:
    """``(inputs, labels, reference)`` from ``path``; ProtocolError when it is not this layout."""
    import numpy as np

    try:
        with np.load(str(path), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise ProtocolError("evaluation data %s is unreadable: %s" % (Path(path).name, exc)) from None
    inputs = {k[len(INPUT_PREFIX) :]: v for k, v in arrays.items() if k.startswith(INPUT_PREFIX)}
    if not inputs:
        raise ProtocolError("evaluation data %s has no '%s<name>' arrays" % (Path(path).name, INPUT_PREFIX))
    return inputs, arrays.get(LABELS), arrays.get(REFERENCE)
