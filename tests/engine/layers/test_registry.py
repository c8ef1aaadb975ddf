"""The registry's family list is the package's family modules, all of them and nothing else."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tunewiz.engine.layers import base, registry
from tunewiz.engine.layers.base import Layer, UnsupportedLayerError, register

PACKAGE = Path(registry.__file__).resolve().parent
NOT_FAMILIES = {"__init__", "base", "registry"}  # the package's own plumbing; shared numerics live in kernels/


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parents[2]).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_family_module_is_listed_and_every_listed_one_exists():
    on_disk = {f"tunewiz.engine.layers.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem not in NOT_FAMILIES}
    listed = [module.__name__ for module in registry.FAMILIES]
    assert len(listed) == len(set(listed)), f"listed twice: {listed}"
    assert set(listed) == on_disk, f"not listed: {sorted(on_disk - set(listed))}; no such module: " \
                                   f"{sorted(set(listed) - on_disk)}"
    for module in registry.FAMILIES:
        assert Path(module.__file__).resolve().parent == PACKAGE
        assert registry.registered_classes(module), f"{module.__name__} registers no layer"


def test_no_layer_is_registered_outside_the_listed_families():
    for path in sorted(PACKAGE.rglob("*.py")):
        module = importlib.import_module(_module_name(path))
        if registry.registered_classes(module):
            assert module in registry.FAMILIES, f"{module.__name__} registers layers but is not in FAMILIES"


def test_the_table_is_the_listed_families_classes():
    expected = {t for module in registry.FAMILIES
                for cls in registry.registered_classes(module) for t in cls.type_names}
    assert set(registry.LAYERS) == expected == set(registry.known_types())
    assert registry.layer_class("Convolution").__module__ == "tunewiz.engine.layers.vision"


def test_a_type_claimed_by_two_families_is_an_error():
    fake = type(registry)("fake_family")

    @register("ReLU")
    class OtherReLU(Layer):
        pass

    OtherReLU.__module__ = fake.__name__
    fake.OtherReLU = OtherReLU
    with pytest.raises(RuntimeError, match="'ReLU' registered twice"):
        registry.build_table([*registry.FAMILIES, fake])


def test_an_unknown_type_names_the_supported_ones():
    with pytest.raises(UnsupportedLayerError, match="'roi' has type 'ROIPooling'.*Supported types:.*Convolution.*Python"):
        registry.layer_class("ROIPooling", "roi")
    assert registry.layer_class("Python").__module__ == "tunewiz.engine.layers.python"
    assert base.NUMERICS == ("caffe", "torch")


def test_the_package_docstring_lists_the_families_one_line_each():
    import re

    import tunewiz.engine.layers as package

    listed = re.findall(r"^\* ``(\w+)``: ", package.__doc__, re.M)
    assert listed == [module.__name__.rpartition(".")[2] for module in registry.FAMILIES]
