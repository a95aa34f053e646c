"""`python -m moekit.cli`: the same command as `moekit`."""

import sys

from moekit.cli import main

sys.exit(main())
