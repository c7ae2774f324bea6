"""``python -m gallery``: the same as the ``gallery`` console script."""

import sys

from gallery.cli import main

sys.exit(main())
