"""``python -m ltx``: the ``ltx`` command."""

import sys

from ltx.cli import main

sys.exit(main())
