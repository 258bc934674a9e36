"""A plugin whose hook name is misspelled: zoo must refuse it loudly."""
from zoo.hookspecs import hookimpl


@hookimpl
def register_model(register):
    register("never", object)
