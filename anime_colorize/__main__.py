"""``python -m anime_colorize COMMAND ...``: the same as ``anime-colorize COMMAND ...``."""
import sys

from anime_colorize.commands import main

sys.exit(main())
