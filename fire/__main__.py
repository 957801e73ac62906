"""``python -m fire`` is the ``fire`` command."""

from fire.cli import leave, main

leave(main())
