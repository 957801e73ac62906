"""The data model: config.json (msgspec Structs), container state, features.

``fire.spec.config`` imports msgspec; ``fire.spec.state`` does not (the engine
path's read-only commands use it and must start fast).
"""
