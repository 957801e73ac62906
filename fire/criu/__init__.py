"""Checkpoint and restore through CRIU (``fire checkpoint``, ``fire restore``).

``rpc`` speaks CRIU's RPC protocol (``criu swrk``); ``request`` turns a container's
configuration into CRIU's options (pure).  Nothing here is imported on the engine
path: only the two commands load it.
"""
