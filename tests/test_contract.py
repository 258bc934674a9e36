"""Every registered preset goes through train, sample and evaluate on its family's tiny config.

A new family or preset is covered here automatically; families add their own deeper tests beside it.
"""
from __future__ import annotations

import pytest

from zoo.registry import get_catalog
from zoo.testing import FamilyContract


@pytest.mark.parametrize("preset", sorted(get_catalog().presets))
def test_preset_contract(preset, tmp_path):
    contract = FamilyContract()
    contract.preset = preset
    contract.test_train_sample_evaluate(tmp_path)
