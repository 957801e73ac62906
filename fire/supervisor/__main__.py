"""``python -m fire.supervisor`` is ``fire-supervise``."""

import sys

from fire.supervisor.cli import main

sys.exit(main())
