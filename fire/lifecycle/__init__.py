"""Pure lifecycle logic: the state machine and the stage graph (no I/O)."""
