"""`python -m minicontainer ...` is the same as the `minicontainer` command."""

import sys

from .cli import main

sys.exit(main())
