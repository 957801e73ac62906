"""seccomp: ``linux.seccomp`` compiled to BPF by libseccomp (pyseccomp) in the
runtime (``compile``), checked by running the program (``bpf``), loaded by the
init with one seccomp(2) call (``fire.init.process``); a notify listener goes to
``listenerPath`` from ``fire start`` (``notify``); ``features`` says what is
supported.

This package's ``__init__`` imports nothing: ``fire start`` imports ``notify``
alone, and only ``create`` pays for libseccomp.
"""
