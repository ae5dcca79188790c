"""Small user tools, each runnable as `python -m tfgda.tools.NAME`."""
