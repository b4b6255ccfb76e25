"""``python -m lstm``: the same as the ``lstm`` command."""

import sys

from .cli import main

sys.exit(main())
