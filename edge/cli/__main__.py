"""`python -m edge.cli`: the `edge` command, for environments without its script."""
from edge.cli import main

main(prog_name="edge")
