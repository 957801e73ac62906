"""The CRIU flags ``checkpoint`` and ``restore`` share, with runc's names and defaults."""

from __future__ import annotations

from fire.cli.args import Opt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli.args import Parsed
    from fire.criu.request import Flags

SHARED = [
    Opt("--image-path", value=True, default="", metavar="DIR",
        help="CRIU's image files (default: ./checkpoint)"),
    Opt("--work-path", value=True, default="", metavar="DIR",
        help="CRIU's work files and logs (default: the image path)"),
    Opt("--tcp-established", help="allow open TCP connections"),
    Opt("--ext-unix-sk", help="allow external unix sockets"),
    Opt("--shell-job", help="allow shell jobs"),
    Opt("--file-locks", help="handle file locks"),
    Opt("--manage-cgroups-mode", value=True, default="", metavar="MODE",
        help="soft (default), full, strict or ignore"),
    Opt("--empty-ns", value=True, multi=True, metavar="NS",
        help="create the namespace but do not restore its properties (network)"),
    Opt("--auto-dedup", help="deduplicate memory images"),
    Opt("--lazy-pages", help="restore memory lazily (not supported)"),
]


def flags_of(parsed: Parsed) -> Flags:
    from fire.criu.request import Flags

    return Flags(image_path=parsed.text("image_path") or "",
                 work_path=parsed.text("work_path") or "",
                 parent_path=parsed.text("parent_path") or "",
                 leave_running=parsed.flag("leave_running"),
                 tcp_established=parsed.flag("tcp_established"),
                 ext_unix_sk=parsed.flag("ext_unix_sk"), shell_job=parsed.flag("shell_job"),
                 file_locks=parsed.flag("file_locks"), pre_dump=parsed.flag("pre_dump"),
                 manage_cgroups_mode=parsed.text("manage_cgroups_mode") or "",
                 empty_ns=parsed.items("empty_ns"), auto_dedup=parsed.flag("auto_dedup"),
                 lazy_pages=parsed.flag("lazy_pages"))
