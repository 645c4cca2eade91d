"""The one path policy (space.paths): which spec fields name files, and how a path is confined.

Hostile cases are listed in tests/hostile/paths/README.md.
"""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from space.paths import (
    NO_ROOTS,
    NOT_ABSOLUTE,
    OUTSIDE_ROOTS,
    FileField,
    PathRefused,
    _check_opened,
    confine,
    file_marker,
    open_confined,
    path_problems,
)
from space.spec import SearchSpec, spec_from_data
from space.spec.datasets import DATASETS, NeuralDataset
from tests.space.spec_fixtures import base as spec_data

# Words that make a text field look like it names a file: such a field must carry FileField
# (or be listed here with the reason it does not name one on the server).
FILE_WORDS = ("path", "file", "dir", "folder", "data", "weights", "checkpoint")
NOT_FILES = {"SearchSpec.dataset"}  # a model (its own path field is marked), not a text


def _models(root: type[BaseModel]) -> set[type[BaseModel]]:
    """Every pydantic model reachable from ``root``'s field annotations."""
    seen: set[type[BaseModel]] = set()
    todo: list[Any] = [root]
    while todo:
        item = todo.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            if item in seen:
                continue
            seen.add(item)
            todo.extend(info.annotation for info in item.model_fields.values())
        else:
            todo.extend(typing.get_args(item))
    return seen


def _is_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_text(arg) for arg in typing.get_args(annotation))
    return False


def test_every_text_field_that_may_name_a_file_is_a_file_field() -> None:
    """Walks the spec's models: a new text field called like a file that is not marked as one
    (FilePath / FileField) would escape the data roots; this fails until it is marked."""
    marked, unmarked = set(), set()
    for model in _models(SearchSpec) | {NeuralDataset, *DATASETS.values()}:
        for name, info in model.model_fields.items():
            where = f"{model.__name__}.{name}"
            if file_marker(info.annotation, info.metadata) is not None:
                marked.add(where)
            elif _is_text(info.annotation) and any(w in name.lower() for w in FILE_WORDS):
                unmarked.add(where)
    assert unmarked - NOT_FILES == set()
    assert marked == {
        "ImageFolderDataset.path",
        "NpzDataset.path",
        "NeuralDataset.path",
        "NeuralFitSettings.data",
    }


def test_the_spec_lists_every_file_it_names() -> None:
    data = spec_data()
    assert spec_from_data(data).file_paths() == []
    data["dataset"] = "imagefolder:/srv/images"
    data["neural"] = {"data": "neural:/srv/neurons.npz"}
    assert spec_from_data(data).file_paths() == [
        ("dataset.path", "/srv/images"),
        ("neural.data", "/srv/neurons.npz"),
    ]


def test_a_marker_inside_an_optional_type_is_found() -> None:
    marker = FileField()
    assert file_marker(typing.Annotated[str, marker] | None) is marker
    assert file_marker(str | None) is None


def test_confine_resolves_inside_the_roots(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f.npz").write_bytes(b"x")
    os.symlink(root / "sub", root / "alias")
    roots = [root]
    assert confine(str(root / "sub" / "f.npz"), roots) == root / "sub" / "f.npz"
    assert confine(str(root / "alias" / "f.npz"), roots) == root / "sub" / "f.npz"
    assert confine(str(root / "missing.npz"), roots) == root / "missing.npz"  # inside: later


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("relative.npz", NOT_ABSOLUTE),
        ("~/secret.npz", NOT_ABSOLUTE),
        ("~root/.ssh/id_rsa", NOT_ABSOLUTE),
        ("/etc/shadow", OUTSIDE_ROOTS),
        ("/nowhere/missing.npz", OUTSIDE_ROOTS),
        ("/etc", OUTSIDE_ROOTS),
        ("ROOT/../outside.npz", OUTSIDE_ROOTS),
        ("ROOT/out-link", OUTSIDE_ROOTS),
        ("ROOT/dangling", OUTSIDE_ROOTS),
        ("ROOT/loop", OUTSIDE_ROOTS),
        ("ROOT/a\x00b", OUTSIDE_ROOTS),
        ("ROOT-sibling/f.npz", OUTSIDE_ROOTS),
    ],
)
def test_confine_refuses_with_fixed_messages(tmp_path: Path, path: str, message: str) -> None:
    root = tmp_path / "ROOT"
    root.mkdir()
    (tmp_path / "outside.npz").write_bytes(b"secret")
    os.symlink(tmp_path / "outside.npz", root / "out-link")
    os.symlink(tmp_path / "gone.npz", root / "dangling")
    os.symlink(root / "loop", root / "loop")
    given = path.replace("ROOT", str(root)) if path.startswith("ROOT") else path
    with pytest.raises(PathRefused) as info:
        confine(given, [root])
    assert str(info.value) == message


def test_no_roots_accepts_no_file() -> None:
    with pytest.raises(PathRefused, match="CONVNAS_DATA_ROOTS"):
        confine("/srv/data.npz", [])
    assert str(PathRefused(NO_ROOTS)) == NO_ROOTS


def test_path_problems_show_only_the_clients_text(tmp_path: Path) -> None:
    data = spec_data()
    data["dataset"] = "npz:/etc/shadow"
    data["neural"] = {"data": "neural:~/n.npz"}
    found = path_problems(spec_from_data(data), [tmp_path])
    assert [(p.path, p.message, p.value) for p in found] == [
        ("dataset.path", OUTSIDE_ROOTS, "/etc/shadow"),
        ("neural.data", NOT_ABSOLUTE, "~/n.npz"),
    ]


def test_open_confined_refuses_a_symlink_swapped_in_after_the_check(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    inside = root / "d.npz"
    inside.write_bytes(b"inside")
    (tmp_path / "secret").write_bytes(b"secret")
    with open_confined(str(inside), [root]) as f:
        assert f.read() == b"inside"
    inside.unlink()
    os.symlink(tmp_path / "secret", inside)
    with pytest.raises(PathRefused, match="outside the server's data roots"):
        open_confined(str(inside), [root])


def test_an_opened_file_outside_the_roots_is_refused(tmp_path: Path) -> None:
    """What a folder of the path swapped for a symlink between resolving and opening gives:
    the descriptor's real path is checked after the open."""
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret").write_bytes(b"secret")
    fd = os.open(tmp_path / "secret", os.O_RDONLY)
    try:
        with pytest.raises(PathRefused):
            _check_opened(fd, [root])
        _check_opened(fd, [tmp_path])  # inside those roots it is fine
    finally:
        os.close(fd)


def test_a_fifo_or_a_folder_is_not_opened_as_a_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    for roots in ([tmp_path], None):  # a FIFO would block the open forever
        with pytest.raises(OSError, match="not a regular file"):
            open_confined(str(fifo), roots)
        with pytest.raises(IsADirectoryError):
            open_confined(str(tmp_path), roots)
