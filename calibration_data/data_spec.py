"""A data spec: one ``.toml``/``.json`` file that says where the samples are and how to preprocess them.

It lets a command-line flag that takes one path (``--calib``, ``--eval``) point at an image folder
or an idx file together with its preprocessing::

    source = "folder"            # or "idx"
    path = "imagenet-val"        # relative to this file
    limit = 500                  # optional: samples spread evenly over the sorted order
    resize = 256                 # any Preprocess key, at the top level
    center_crop = 224
    mean = [0.485, 0.456, 0.406]
    std = [0.229, 0.224, 0.225]

For ``source = "idx"``, ``labels`` may name the labels file (else it is found beside ``path``).
Python 3.8-compatible: the agent may import it.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calibration_data.dataset import Dataset, DatasetError, check_limit, data_error
from calibration_data.idx import load_idx
from calibration_data.image_folder import load_image_folder
from calibration_data.preprocess import Preprocess, as_preprocess

if TYPE_CHECKING:
    from calibration_data.preprocess import PreprocessLike
from calibration_data.spec_file import read_spec_file, reject_unknown_keys

__all__ = ["DATA_SPEC_KEYS", "SOURCES", "load_data_spec"]

SOURCES = ("folder", "idx")
DATA_SPEC_KEYS = ("source", "path", "labels", "limit")


def load_data_spec(spec_path: str | Path, preprocess: PreprocessLike = None, limit: int | None = None) -> Dataset:
    """Load the samples a data spec file points at; an explicit ``limit`` overrides the file's."""
    p = Path(spec_path)
    table = read_spec_file(p)
    preprocess_keys = tuple(f.name for f in fields(Preprocess))
    reject_unknown_keys(p, table, DATA_SPEC_KEYS + preprocess_keys, "data spec")
    source = table.pop("source", None)
    if source not in SOURCES:
        problem = "has no 'source' key" if source is None else f"source = {source!r} is not known"
        raise data_error(
            p,
            problem,
            'a data spec says source = "folder" or "idx" and path = "..."; a file of preprocessing keys alone '
            "goes in preprocess=",
        )
    data_path = _resolve(p, table.pop("path", None), "path")
    labels_path = table.pop("labels", None)
    if labels_path is not None and source != "idx":
        raise data_error(p, "'labels' applies only to source = \"idx\"", "a folder's labels come from its subfolders")
    file_limit = table.pop("limit", None)
    try:
        count = check_limit(limit if limit is not None else file_limit)
    except DatasetError as exc:
        raise DatasetError(f"{p}: {exc}") from None
    if table and preprocess is not None:
        raise data_error(
            p,
            f"holds preprocessing keys ({', '.join(sorted(table))}) and a preprocess argument was given too",
            "give the preprocessing in one place",
        )
    spec = as_preprocess(preprocess) if preprocess is not None else Preprocess.from_mapping(table, source=p)
    if source == "idx":
        labels = None if labels_path is None else _resolve(p, labels_path, "labels")
        return load_idx(data_path, labels=labels, preprocess=spec, limit=count)
    return load_image_folder(data_path, preprocess=spec, limit=count)


def _resolve(spec_path: Path, value: Any, key: str) -> Path:
    if not isinstance(value, str) or not value:
        raise data_error(
            spec_path,
            f"'{key}' is {'missing' if value is None else repr(value)}",
            f'set {key} = "..." to a path, relative to the spec file or absolute',
        )
    target = Path(value).expanduser()
    resolved = target if target.is_absolute() else spec_path.parent / target
    if not resolved.exists():
        raise data_error(
            spec_path,
            f"{key} = {value!r} does not exist (looked for {resolved})",
            "a relative path is taken from the spec file's folder: fix the path or move the spec",
        )
    return resolved
