"""The gallery's order: the quickstart first, then by file name.

A module of its own so that Sphinx can pickle the sort key with the
configuration.
"""


def quickstart_first(filename):
    return (filename != "plot_penguins_quickstart.py", filename)
