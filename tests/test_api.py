"""Every module declares ``__all__`` and every name in it exists."""

import importlib
import pkgutil

import pytest

import spikesmith

# Modules that import simulator-only packages at import time are listed by their tests.
PACKAGES = ["spikesmith", "spikesmith.sim", "spikesmith.model", "spikesmith.compiler",
            "spikesmith.hw"]


def _modules():
    names = []
    for pkg_name in PACKAGES:
        pkg = importlib.import_module(pkg_name)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg_name}."):
            if not info.ispkg and not any(info.name.startswith(f"{p}.") and p != pkg_name
                                          for p in PACKAGES if p != "spikesmith"
                                          and pkg_name == "spikesmith"):
                names.append(info.name)
    return sorted(set(names))


@pytest.mark.parametrize("name", _modules())
def test_module_all_names_exist(name):
    mod = importlib.import_module(name)
    assert hasattr(mod, "__all__"), f"{name} has no __all__"
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert missing == []
    assert len(set(mod.__all__)) == len(mod.__all__)


def test_package_version_is_set():
    assert spikesmith.__version__


def test_test_module_names_are_unique():
    """pytest's default import mode needs unique basenames across the tests folder."""
    from collections import Counter
    from pathlib import Path

    names = Counter(p.name for p in Path(__file__).parent.rglob("test_*.py"))
    assert [n for n, c in names.items() if c > 1] == []
