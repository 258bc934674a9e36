"""Every registered preset goes through the contract kit once, on its family's tiny config.

A new family or preset is covered here automatically; families add their own deeper tests beside it. A
preset that starts from an outside model (`model.init_from`) is run by its family's tests on a tiny stand-in.
"""
from __future__ import annotations

import re

from zoo.registry import get_catalog
from zoo.testing import FamilyContract

for _preset in sorted(get_catalog().presets):
    if (get_catalog().preset(_preset).get("model") or {}).get("init_from"):
        continue  # starts from an outside model (SmolLM2's 93 MB): its family's tests run the kit on a tiny stand-in
    if get_catalog().preset(_preset)["data"]["dataset"] == "image-folder":
        continue  # trains on the user's --data folder (sr4-rgb): tests/test_translate_cli.py runs it on a made folder
    _name = "TestContract_" + re.sub(r"\W", "_", _preset)
    globals()[_name] = type(_name, (FamilyContract,), {"preset": _preset})
