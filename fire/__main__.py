"""``python -m fire`` is the ``fire`` command."""

import sys

from fire.cli import main

sys.exit(main())
