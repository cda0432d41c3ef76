"""``python -m selfinstruct.cli``: the same command line as ``python -m selfinstruct``."""

import sys

from selfinstruct.cli import main

sys.exit(main())
