"""`python -m facesearch.cli`: the same command line as the `facesearch` script."""

from . import app

app(prog_name="facesearch")
