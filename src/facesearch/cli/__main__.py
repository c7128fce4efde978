"""`python -m facesearch.cli`: the same command line as the `facesearch` script."""

from . import main

main()
