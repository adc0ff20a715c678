"""The one loader of the data files beside the components (issue 13: text as files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.datafiles import data_path, read_yaml, render

ROOT = Path(__file__).resolve().parent.parent


def test_a_missing_data_file_names_its_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"absent\.yaml is missing"):
        data_path(str(tmp_path / "module.py"), "absent.yaml")


def test_read_yaml_refuses_a_document_that_is_not_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ValueError, match=r"list\.yaml: expected a mapping"):
        read_yaml(str(tmp_path / "module.py"), "list.yaml")


def test_read_yaml_returns_a_fresh_mapping_each_call(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("a: {b: 1}\n")
    first = read_yaml(str(tmp_path / "module.py"), "values.yaml")
    first["a"]["b"] = 2
    assert read_yaml(str(tmp_path / "module.py"), "values.yaml") == {"a": {"b": 1}}


def test_render_fills_placeholders_and_refuses_a_missing_one(tmp_path: Path) -> None:
    (tmp_path / "script.sh").write_text('echo "@{greeting}" @{name} "$HOME" ${X:-@@}\n')
    module = str(tmp_path / "module.py")
    rendered = render(module, "script.sh", greeting="hi", name="n")
    assert rendered == 'echo "hi" n "$HOME" ${X:-@}\n'
    with pytest.raises(KeyError, match="greeting"):
        render(module, "script.sh")


def test_every_static_chart_values_file_is_used_by_its_tier() -> None:
    """A values file nobody reads is a setting accepted and ignored."""
    values_dir = ROOT / "components" / "observability" / "values"
    sources = "".join(p.read_text() for p in (ROOT / "components").rglob("*.py"))
    for path in values_dir.glob("*.yaml"):
        assert f"values/{path.name}" in sources, path.name


def test_every_data_stores_script_and_config_is_used() -> None:
    package = ROOT / "components" / "datastores"
    sources = "".join(p.read_text() for p in package.glob("*.py"))
    files = [*package.glob("scripts/*"), *package.glob("config/*")]
    assert files
    for path in files:
        assert f"{path.parent.name}/{path.name}" in sources, path.name
