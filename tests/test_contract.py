"""Every registered preset goes through the contract kit once, on its family's tiny config.

A new family or preset is covered here automatically; families add their own deeper tests beside it.
"""
from __future__ import annotations

import re

from zoo.registry import get_catalog
from zoo.testing import FamilyContract

for _preset in sorted(get_catalog().presets):
    _name = "TestContract_" + re.sub(r"\W", "_", _preset)
    globals()[_name] = type(_name, (FamilyContract,), {"preset": _preset})
