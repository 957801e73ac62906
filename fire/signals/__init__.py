"""Signals: one table of names and numbers shared by every command, and the
forwarding policy of foreground commands and the supervisor."""
