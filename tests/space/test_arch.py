"""Frozen archs: content hashing and YAML/JSON round-trips (space.arch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from space.arch import RGCCell, arch_from_data, load_arch, save_arch
from space.errors import SpecError
from space.presets import load_preset, preset_names

MINIMAL: dict[str, Any] = {
    "input": {"size": 16, "channels": 3},
    "classes": 10,
    "layers": [
        {"name": "conv1", "channels": 8, "pool": 2},
        {"name": "conv2", "channels": 8, "cell": {"kind": "rgc", "cell_depth": 4}},
        {"name": "conv3", "channels": 16, "cell": {"kind": "lstm"}},
    ],
    "feedback": [
        {"source": "conv3", "target": "conv2"},
        {"source": "conv3", "target": "conv1", "entry": "input"},
    ],
    "time": {"steps": 5, "image_off": 3},
}


def reorder(value: Any) -> Any:
    """The same document with every mapping's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reorder(v) for v in value]
    return value


def test_key_order_does_not_change_the_hash() -> None:
    a = arch_from_data(MINIMAL)
    b = arch_from_data(reorder(MINIMAL))
    assert a == b
    assert a.arch_hash == b.arch_hash and a.config_hash == b.config_hash


def test_feedback_order_does_not_change_the_hash() -> None:
    swapped = {**MINIMAL, "feedback": list(reversed(MINIMAL["feedback"]))}
    assert arch_from_data(swapped).arch_hash == arch_from_data(MINIMAL).arch_hash


def test_defaults_written_out_hash_the_same() -> None:
    a = arch_from_data(MINIMAL)
    explicit = a.model_dump(mode="json")  # every default spelled out
    assert arch_from_data(explicit).arch_hash == a.arch_hash
    assert len(json.dumps(explicit)) > 2 * len(json.dumps(MINIMAL))


def test_readout_shorthand_hashes_like_the_long_form() -> None:
    short = {**MINIMAL, "time": {**MINIMAL["time"], "readout": "max_conf"}}
    long = {**MINIMAL, "time": {**MINIMAL["time"], "readout": {"kind": "max_conf"}}}
    assert arch_from_data(short).arch_hash == arch_from_data(long).arch_hash


def test_any_architectural_change_changes_the_hash() -> None:
    base = arch_from_data(MINIMAL).arch_hash
    wider = json.loads(json.dumps(MINIMAL))
    wider["layers"][2]["channels"] = 32
    no_edge = {**MINIMAL, "feedback": MINIMAL["feedback"][:1]}
    longer = {**MINIMAL, "time": {"steps": 6, "image_off": 3}}
    other_cell = json.loads(json.dumps(MINIMAL))
    other_cell["layers"][1]["cell"]["gate_nonlinearity"] = "tanh"
    hashes = {base} | {arch_from_data(d).arch_hash for d in (wider, no_edge, longer, other_cell)}
    assert len(hashes) == 5


def test_training_changes_config_hash_only() -> None:
    plain = arch_from_data(MINIMAL)
    fast = arch_from_data({**MINIMAL, "training": {"lr": 0.1}})
    slow = arch_from_data({**MINIMAL, "training": {"lr": 0.01}})
    assert plain.arch_hash == fast.arch_hash == slow.arch_hash
    assert len({plain.config_hash, fast.config_hash, slow.config_hash}) == 3
    # training defaults spelled out or omitted: same config
    spelled = arch_from_data({**MINIMAL, "training": fast.training.model_dump()})  # type: ignore[union-attr]
    assert spelled.config_hash == fast.config_hash


def test_meta_is_ignored_by_both_hashes() -> None:
    plain = arch_from_data(MINIMAL)
    noted = arch_from_data({**MINIMAL, "meta": {"description": "x", "source": "y"}})
    assert plain.arch_hash == noted.arch_hash and plain.config_hash == noted.config_hash
    assert noted.meta["description"] == "x"


def test_hash_shape() -> None:
    h = arch_from_data(MINIMAL).arch_hash
    assert len(h) == 16 and int(h, 16) >= 0


@pytest.mark.parametrize("name", preset_names())
def test_preset_round_trips_through_yaml_and_json(name: str, tmp_path: Path) -> None:
    arch = load_preset(name)
    from_yaml = arch_from_data(yaml.safe_load(arch.to_yaml()))
    from_json = arch_from_data(json.loads(arch.to_json()))
    assert from_yaml == arch == from_json
    assert from_yaml.arch_hash == arch.arch_hash == from_json.arch_hash
    assert from_yaml.meta == arch.meta
    for suffix in (".yaml", ".json"):
        path = tmp_path / f"{name}{suffix}"
        save_arch(arch, path)
        loaded = load_arch(path)
        assert loaded == arch and loaded.config_hash == arch.config_hash


def test_exported_file_with_provenance_loads(tmp_path: Path) -> None:
    arch = arch_from_data({**MINIMAL, "training": {"epochs": 3}})
    path = tmp_path / "export.yaml"
    path.write_text(yaml.safe_dump({"arch": arch.to_dict(), "metrics": {"val_acc": 0.5}}))
    loaded = load_arch(path)
    assert loaded.config_hash == arch.config_hash


def test_bad_arch_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, "classes": 1}, sort_keys=False))
    with pytest.raises(SpecError) as info:
        load_arch(path)
    assert any(p.path == "classes" for p in info.value.problems)


# Hashes recorded before the issue-13 fields existed: archs written then keep their hashes.
PINNED = {
    "minimal": "396504cd38c6bece",
    "minimal_mean_from_0": "48206c43b42b7c1b",
    "ff_shallow": "89db6723fdecd6c8",
    "ff_intermediate": "ce0880d0364c104d",
}


def test_hashes_of_archs_written_before_the_new_fields_are_stable() -> None:
    assert arch_from_data(MINIMAL).arch_hash == PINNED["minimal"]
    assert arch_from_data({**MINIMAL, "training": {"lr": 0.1}}).config_hash == "42b88da506d35dcd"
    mean = {**MINIMAL, "time": {**MINIMAL["time"], "readout": {"kind": "mean", "start": 0}}}
    assert arch_from_data(mean).arch_hash == PINNED["minimal_mean_from_0"]
    for name in ("ff_shallow", "ff_intermediate"):
        assert load_preset(name).arch_hash == PINNED[name]


NEW_FIELDS: list[tuple[str, Any, Any]] = [
    ("time.blank", 0.0, 0.5),
    ("resize", {"mode": "bilinear", "align_corners": False}, {"align_corners": True}),
    ("init", {"scheme": "xavier", "scale": 1.0}, {"scheme": "tf"}),
    ("crop_depthwise", False, True),
    ("layers.1.cell.init_scale", None, 0.639),
    ("layers.1.cell.weight_decay", None, 2e-4),
    ("layers.2.cell.bias_init", None, 1.64),
    ("time.readout", {"kind": "max_conf", "end": None, "temperature": 1.0}, None),
]


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(data))
    *parents, last = path.split(".")
    node: Any = data
    for key in parents:
        node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
    node[last] = value
    return data


@pytest.mark.parametrize(("path", "default", "other"), NEW_FIELDS, ids=[f[0] for f in NEW_FIELDS])
def test_new_fields_hash_only_when_set(path: str, default: Any, other: Any) -> None:
    base = arch_from_data(_set(MINIMAL, "time.readout", "max_conf")).arch_hash
    start = _set(MINIMAL, "time.readout", "max_conf")
    assert arch_from_data(_set(start, path, default)).arch_hash == base
    if other is not None:
        assert arch_from_data(_set(start, path, other)).arch_hash != base


def test_readout_window_and_temperature_hash_when_set() -> None:
    base = _set(MINIMAL, "time.readout", {"kind": "thresh"})
    plain = arch_from_data(base).arch_hash
    for readout in (
        {"kind": "thresh", "start": 1},
        {"kind": "thresh", "end": 4},
        {"kind": "thresh", "temperature": "learned"},
        {"kind": "thresh", "temperature": 0.5},
    ):
        assert arch_from_data(_set(MINIMAL, "time.readout", readout)).arch_hash != plain


def test_new_field_values_are_checked() -> None:
    for path, bad in (
        ("time.readout", {"kind": "max_conf", "temperature": 0.0}),
        ("time.readout", {"kind": "max_conf", "temperature": "hot"}),
        ("time.readout", {"kind": "mean", "start": "first"}),
        ("layers.1.cell.init_scale", 0.0),
        ("layers.1.cell.weight_decay", -1e-4),
        ("init", {"scheme": "he"}),
        ("resize", {"mode": "nearest"}),
    ):
        with pytest.raises(SpecError):
            arch_from_data(_set(MINIMAL, path, bad))


def test_papers_continuous_gate_biases_are_valid() -> None:
    data = _set(MINIMAL, "layers.1.cell.tau_bias", 4.147336708899556)
    data = _set(data, "layers.1.cell.gate_bias", 2.776542926439013)
    cell = arch_from_data(data).layers[1].cell
    assert isinstance(cell, RGCCell)
    assert (cell.tau_bias, cell.gate_bias) == (4.147336708899556, 2.776542926439013)


def test_init_scale_is_canonical_under_xavier() -> None:
    plain = arch_from_data(MINIMAL)
    ignored = arch_from_data({**MINIMAL, "init": {"scheme": "xavier", "scale": 3.0}})
    assert ignored == plain and ignored.arch_hash == plain.arch_hash
    tf = arch_from_data({**MINIMAL, "init": {"scheme": "tf", "scale": 3.0}})
    assert tf.init.scale == 3.0


def test_bias_placement_is_canonical_without_biases() -> None:
    plain = arch_from_data(MINIMAL)
    placed = arch_from_data(_set(MINIMAL, "layers.1.cell.bias_placement", "released"))
    assert placed == plain and placed.arch_hash == plain.arch_hash
    # with a bias and a depth-separable tau the placement is another network: another hash
    biased = _set(
        _set(MINIMAL, "layers.1.cell.tau_bias", 1.0), "layers.1.cell.tau_depth_separable", True
    )
    assert (
        arch_from_data(_set(biased, "layers.1.cell.bias_placement", "released")).arch_hash
        != arch_from_data(biased).arch_hash
    )
