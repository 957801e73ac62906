"""The ``fire`` status view (``fire top``): textual, built on rich."""
