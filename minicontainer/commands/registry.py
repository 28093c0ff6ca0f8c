"""Registry commands: pull, push, login, logout, tags, registry start|stop (lesson 06)."""

from __future__ import annotations

import argparse
import sys

ORDER = 40


def _tls_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--insecure", action="store_true",
                   help="allow plain HTTP and unverified TLS (lab registries only)")
    p.add_argument("--ca-file", metavar="PEM", help="trust this CA bundle for the registry's certificate")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pull", help="download an image from a registry into the local store (Docker Hub images "
                                    "through the registry-mirrors of /etc/docker/daemon.json or MC_REGISTRY_MIRRORS)")
    p.add_argument("image", help="e.g. busybox, localhost:5000/demo:1, ghcr.io/org/app@sha256:...")
    p.add_argument("--platform", help="OS/ARCH[/VARIANT] to choose from a multi-platform image")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    _tls_options(p)
    p.set_defaults(handler=_pull)

    p = sub.add_parser("push", help="upload an image from the local store to a registry")
    p.add_argument("image", help="the stored image")
    p.add_argument("destination", nargs="?", help="where to push it (default: the image's own name)")
    p.add_argument("--chunk-size", type=int, metavar="BYTES", help="upload in PATCH chunks of this size")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    _tls_options(p)
    p.set_defaults(handler=_push)

    p = sub.add_parser("login", help="save credentials for a registry (checked first)")
    p.add_argument("server", nargs="?", default="docker.io")
    p.add_argument("-u", "--username", required=True)
    p.add_argument("-p", "--password", help="the password (prefer --password-stdin)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    _tls_options(p)
    p.set_defaults(handler=_login)

    p = sub.add_parser("logout", help="forget a registry's credentials")
    p.add_argument("server", nargs="?", default="docker.io")
    p.set_defaults(handler=_logout)

    p = sub.add_parser("tags", help="list a repository's tags, e.g. `tags localhost:5000/busybox`")
    p.add_argument("repository")
    _tls_options(p)
    p.set_defaults(handler=_tags)

    p = sub.add_parser("registry", help="the course's lab registry on 127.0.0.1")
    rsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = rsub.add_parser("start", help="start docker-registry on 127.0.0.1 and seed it with busybox")
    s.add_argument("--port", type=int, default=5000)
    s.set_defaults(handler=_registry_start)
    s = rsub.add_parser("stop", help="stop the lab registry")
    s.set_defaults(handler=_registry_stop)
    s = rsub.add_parser("status", help="is the lab registry running?")
    s.set_defaults(handler=_registry_status)


def _notice(message: str) -> None:
    print(message, file=sys.stderr)


def _pull(args: argparse.Namespace) -> int:
    from ..registry.progress import auto_progress
    from ..registry.pull import pull

    result = pull(args.image, platform=args.platform, progress=auto_progress(not args.quiet),
                  insecure=args.insecure, ca_file=args.ca_file, notice=_notice)
    fetched = f"{len(result.fetched)} blob(s), {result.downloaded / 1048576:.1f} MiB" if result.fetched \
        else "already up to date"
    print(f"{result.reference}: {fetched}")
    if result.source.startswith(("http://", "https://")):
        print(f"From mirror: {result.source}")
    print(f"Digest: {result.index_digest or result.digest}")
    if result.index_digest:
        print(f"Platform: {result.platform} -> {result.digest}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from ..registry.progress import auto_progress
    from ..registry.push import push

    result = push(args.image, args.destination, progress=auto_progress(not args.quiet), insecure=args.insecure,
                  ca_file=args.ca_file, chunk_size=args.chunk_size, notice=_notice)
    counts: dict[str, int] = {}
    for status in result.blobs.values():
        counts[status] = counts.get(status, 0) + 1
    print(f"{result.reference}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    print(f"Digest: {result.digest}")
    return 0


def _login(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..registry.auth import Credentials, save_credentials
    from ..registry.login import check_login

    password = args.password
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    if password is None:
        import getpass

        password = getpass.getpass("Password: ")
    if not password:
        raise UsageError("empty password", step="login", fix="pass --password-stdin and pipe the password in")
    creds = Credentials(args.username, password)
    check_login(args.server, creds, insecure=args.insecure, ca_file=args.ca_file)
    where = save_credentials(args.server, creds)
    print(f"Login Succeeded (saved in {where})")
    return 0


def _logout(args: argparse.Namespace) -> int:
    from ..registry.auth import remove_credentials

    if remove_credentials(args.server):
        print(f"Removed login credentials for {args.server}")
    else:
        print(f"Not logged in to {args.server}")
    return 0


def _tags(args: argparse.Namespace) -> int:
    from ..reference import parse_reference
    from ..registry.pull import client_for

    ref = parse_reference(args.repository)
    for tag in client_for(ref, insecure=args.insecure, ca_file=args.ca_file, notice=_notice).list_tags(ref.repository):
        print(tag)
    return 0


def _registry_start(args: argparse.Namespace) -> int:
    from ..privileges import require_root
    from ..registry.server import start_lab

    require_root("start the lab registry")
    state = start_lab(port=args.port)
    print(f"lab registry on {state['address']} (pid {state['pid']}); {state.get('seeded', '')}")
    return 0


def _registry_stop(args: argparse.Namespace) -> int:
    from ..registry.server import stop_lab

    print(stop_lab() or "the lab registry is not running")
    return 0


def _registry_status(args: argparse.Namespace) -> int:
    from ..registry.server import lab_status

    state = lab_status(__import__("minicontainer.paths", fromlist=["Paths"]).Paths.from_env())
    print(f"running on {state['address']} (pid {state['pid']})" if state else "not running")
    return 0 if state else 1
