"""Load target profiles (one YAML file per device kind) into frozen dataclasses.

``load_profiles()`` returns a :class:`Catalog` of the profiles shipped in this package merged with
the user's own folders (``extra_dirs``, and ``$EDGEPROF_TARGETS_DIR``, a list separated by the OS
path separator). A user profile with the id of a shipped one replaces it, and the catalogue records
a note saying so. Every field is validated on load (:mod:`targets.parse`): a malformed profile raises
:class:`ProfileError` naming the file, the field and the form that was expected. The YAML schema is
described in ``targets/README.md``; the dataclasses are in :mod:`targets.schema`.

Needs only PyYAML and the standard library, and runs on Python 3.8 (the agent reads it on JetPack 5).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import yaml

from targets.errors import ProfileError, UnknownTargetError
from targets.parse import parse_profile
from targets.schema import TargetProfile

__all__ = [
    "ENV_VAR",
    "SHIPPED_DIR",
    "Catalog",
    "ProfileError",
    "UnknownTargetError",
    "env_dirs",
    "load_profile",
    "load_profiles",
    "TargetProfile",
]

PathLike = Union[str, "os.PathLike[str]"]
ENV_VAR = "EDGEPROF_TARGETS_DIR"
SHIPPED_DIR = Path(__file__).resolve().parent


def load_profile(
    path: PathLike, *, origin: str = "user", proc_root: PathLike = "/proc", sysfs_root: PathLike = "/sys"
) -> TargetProfile:
    """Read and validate one profile file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(path, "(file)", "a readable YAML file", str(exc)) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = "(YAML syntax, line %d)" % (mark.line + 1) if mark is not None else "(YAML syntax)"
        raise ProfileError(path, where, "valid YAML", str(exc).splitlines()[0]) from exc
    return parse_profile(path, data, origin, Path(proc_root), Path(sysfs_root))


def _files(folder: Path) -> List[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix in (".yaml", ".yml") and not p.name.startswith(("_", "."))
    )


def env_dirs() -> List[Path]:
    value = os.environ.get(ENV_VAR, "")
    return [Path(p) for p in value.split(os.pathsep) if p.strip()]


class Catalog(Mapping):
    """Profiles by id, shipped and the user's, with notes on what the user's replaced."""

    def __init__(self, profiles: Dict[str, TargetProfile], notes: Sequence[str] = ()):
        self._profiles = dict(sorted(profiles.items()))
        self.notes: Tuple[str, ...] = tuple(notes)

    def __getitem__(self, target_id: str) -> TargetProfile:
        try:
            return self._profiles[target_id]
        except KeyError:
            raise UnknownTargetError(target_id, list(self._profiles)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._profiles)

    def __len__(self) -> int:
        return len(self._profiles)

    def require(self, target_id: str) -> TargetProfile:
        """The profile with ``target_id``; UnknownTargetError (listing known ids) if there is none."""
        return self[target_id]


def load_profiles(
    extra_dirs: Optional[Iterable[PathLike]] = None,
    *,
    include_env: bool = True,
    include_shipped: bool = True,
    proc_root: PathLike = "/proc",
    sysfs_root: PathLike = "/sys",
) -> Catalog:
    """Shipped profiles merged with the user's folders; a user profile wins by id, with a note.

    ``extra_dirs`` come after ``$EDGEPROF_TARGETS_DIR`` (when ``include_env``), so a folder named on
    the command line wins over one named in the environment.
    """
    profiles: Dict[str, TargetProfile] = {}
    notes: List[str] = []
    if include_shipped:
        for path in _files(SHIPPED_DIR):
            profile = load_profile(path, origin="shipped", proc_root=proc_root, sysfs_root=sysfs_root)
            if profile.id in profiles:
                raise ProfileError(
                    path,
                    "id",
                    "an id no other shipped profile has (%s also has %r)"
                    % (profiles[profile.id].path.name, profile.id),
                    profile.id,
                )
            profiles[profile.id] = profile
    folders = (env_dirs() if include_env else []) + [Path(p) for p in (extra_dirs or ())]
    seen_user: Dict[str, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            raise ProfileError(folder, "(folder)", "an existing folder of profile .yaml files", "no such folder")
        for path in _files(folder):
            profile = load_profile(path, origin="user", proc_root=proc_root, sysfs_root=sysfs_root)
            previous = profiles.get(profile.id)
            if previous is not None and previous.origin == "user":
                notes.append(
                    "%s: profile %r replaces the one in %s (later folders win)"
                    % (path, profile.id, seen_user[profile.id])
                )
            elif previous is not None:
                profile = dataclasses.replace(profile, overrides=previous.path)
                notes.append("%s: user profile %r overrides the shipped one" % (path, profile.id))
            seen_user[profile.id] = path
            profiles[profile.id] = profile
    return Catalog(profiles, notes)
