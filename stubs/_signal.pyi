# The builtin half of `signal` (no enum import): the same functions and numbers.
from signal import *  # noqa: F403
from signal import NSIG as NSIG
from signal import SIG_DFL as SIG_DFL
from signal import SIG_IGN as SIG_IGN
from signal import SIGRTMAX as SIGRTMAX
from signal import SIGRTMIN as SIGRTMIN
from signal import pidfd_send_signal as pidfd_send_signal
from signal import pthread_sigmask as pthread_sigmask
from signal import set_wakeup_fd as set_wakeup_fd
from signal import signal as signal
