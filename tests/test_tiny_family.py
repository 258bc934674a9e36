"""The contract kit on the tiny family a plugin author copies from, registered by a mock plugin."""
import pytest

from zoo import plugins
from zoo.testing import FamilyContract, TinyPlugin


@pytest.fixture(scope="module", autouse=True)
def tiny_registered():
    plugins.reset()
    plugins.get_plugin_manager().register(TinyPlugin(), name="tiny")
    yield
    plugins.reset()


class TestTinyFamily(FamilyContract):
    preset = "tiny-mnist"
