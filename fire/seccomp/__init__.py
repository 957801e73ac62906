"""seccomp: compiling ``linux.seccomp`` to BPF with libseccomp (pyseccomp) in the
runtime; the init loads the raw program with one seccomp(2) call."""
