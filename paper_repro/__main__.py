"""``python -m paper_repro FIGURE|all [--quick|--full|--config KEY] [--out ROOT]``: see :mod:`paper_repro.cli`."""

import sys

from .cli import main

sys.exit(main())
