"""``python -m ielmscan.cli``: the same as the ``ielmscan`` command."""
from ielmscan.cli import main

main()
