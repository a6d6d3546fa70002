"""pipeline.spec_file: the optimize options in TOML, under the same names."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.spec_file import load_spec


def test_values_become_what_the_command_line_would_say(tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'runtimes = ["onnxruntime", "openvino"]\nbatch = [1, 8]\nprune = "none,channels=0.2"\n'
        'search = "wide"\nmax_accuracy_loss = 0.005\ncalib = "data/calib.npz"\n[shape]\ninput_ids = [1, 128]\n'
    )
    values = load_spec(spec)
    assert values == {
        "runtimes": "onnxruntime,openvino",
        "batch": "1,8",
        "prune": "none,channels=0.2",
        "search": "wide",
        "max_accuracy_loss": 0.005,
        "calib": tmp_path / "data" / "calib.npz",  # relative to the spec file
        "shape": ["input_ids=1x128"],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("precisons = ['fp32']\n", "unknown option.*precisons"),
        ("batch = 'one'\nmax_accuracy_loss = 'low'\n", "max_accuracy_loss has the wrong type"),
        ("runtimes = [\n", "not valid TOML"),
    ],
)
def test_a_bad_spec_is_an_input_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        load_spec(spec)
    assert str(spec) in str(info.value)
