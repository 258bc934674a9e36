"""A plugin whose hook name is misspelled: zoo skips it with one warning line and keeps working."""
from zoo.hookspecs import hookimpl


@hookimpl
def register_model(register):
    register("never", object)
