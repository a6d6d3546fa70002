"""Tensor element types as ONNX Runtime names them, and the numpy dtype each one is.

Both sides need the table: the agent to build inputs for a model, the host to probe a built model.
Values are numpy dtype names, so this module imports nothing.
"""

from __future__ import annotations

from typing import Dict, Optional

ORT_TENSOR_TYPES: Dict[str, str] = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


def numpy_dtype_name(ort_type: str) -> Optional[str]:
    """``"tensor(float)"`` -> ``"float32"``; None for a type with no numpy equivalent here."""
    return ORT_TENSOR_TYPES.get(ort_type)
