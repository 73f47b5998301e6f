"""``python -m anime_colorize.export``: see :mod:`anime_colorize.export.cli`."""
import sys

from anime_colorize.export.cli import main

sys.exit(main())
