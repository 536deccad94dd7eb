"""``python -m synthral``."""

from synthral.cli import main

main()
