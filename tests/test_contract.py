"""Every registered preset goes through train, sample and evaluate on its family's tiny config.

A new family or preset is covered here automatically; families add their own deeper tests beside it.
"""
from __future__ import annotations

import pytest

from zoo.data.spec import find_folder
from zoo.registry import get_catalog
from zoo.testing import FamilyContract


def presets() -> list:
    catalog = get_catalog()
    params = []
    for name, entry in catalog.presets.items():
        dataset = entry.target["data"]["dataset"]
        spec = catalog.get("datasets", dataset).load()
        missing = find_folder(spec) is None
        params.append(pytest.param(name, marks=pytest.mark.skipif(missing, reason=f"dataset {dataset} is not installed here")))
    return params


@pytest.mark.parametrize("preset", presets())
def test_preset_contract(preset, tmp_path):
    contract = FamilyContract()
    contract.preset = preset
    contract.test_train_sample_evaluate(tmp_path)
