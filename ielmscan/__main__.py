"""``python -m ielmscan``: the same as the ``ielmscan`` command."""
from ielmscan.cli import main

main()
