"""`python -m bulletin.plugin`: the plugin without its console script (the krew shim uses it)."""

import sys

from bulletin.plugin.cli import main

sys.exit(main())
