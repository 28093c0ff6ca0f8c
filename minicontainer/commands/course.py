"""Commands about the course and the host: doctor, progress, prepare, reset."""

from __future__ import annotations

import argparse

ORDER = 90


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="tell what this host supports and how to fix what it lacks")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(handler=_doctor)

    p = sub.add_parser("progress", help="every lesson's exercise parts, done or not (runs the checks now)")
    p.add_argument("--source", help="check this directory of exercise files instead of exercises/")
    p.set_defaults(handler=_progress)

    p = sub.add_parser("prepare", help="build the offline default image (make lab does this)")
    p.set_defaults(handler=_prepare)

    p = sub.add_parser("reset", help="remove every container, mount, cgroup, network device and image the course made")
    p.add_argument("--keep-images", action="store_true", help="keep the image store and the default rootfs")
    p.set_defaults(handler=_reset)


def _doctor(args: argparse.Namespace) -> int:
    from ..doctor import diagnose, render

    report = diagnose()
    print(report.to_json() if args.json else render(report))
    return 0 if report.course_can_run else 1


def _progress(args: argparse.Namespace) -> int:
    from ..progress import main

    return main(args.source)


def _prepare(args: argparse.Namespace) -> int:
    from ..lab import prepare
    from ..privileges import require_root

    require_root("prepare the default image")
    for line in prepare():
        print(line)
    return 0


def _reset(args: argparse.Namespace) -> int:
    from ..lab import reset
    from ..privileges import require_root

    require_root("reset the machine")
    removed = reset(remove_images=not args.keep_images)
    for line in removed:
        print(line)
    print("reset: nothing left" if not removed else f"reset: {len(removed)} thing(s) removed")
    return 0
