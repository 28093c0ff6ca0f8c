"""Image commands with Docker's names: images, rmi, tag, commit, build, history, save, load, image inspect/prune
(lessons 05 and 09)."""

from __future__ import annotations

import argparse
import sys

ORDER = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("images", help="list images in the local store")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--digests", action="store_true", help="show manifest digests")
    p.set_defaults(handler=_images)

    p = sub.add_parser("rmi", help="remove one or more images (blobs no name uses are collected)")
    p.add_argument("-f", "--force", action="store_true", help="untag even an image a container uses")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(handler=_rmi)

    p = sub.add_parser("tag", help="create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
    p.set_defaults(handler=_tag)

    p = sub.add_parser("commit", help="create a new image from a container's changes")
    p.add_argument("-m", "--message", default="", help="commit message")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("name", nargs="?", default=None, metavar="NAME[:TAG]")
    p.set_defaults(handler=_commit)

    p = sub.add_parser("build", help="build an image from a Dockerfile (a subset)")
    p.add_argument("-t", "--tag", default=None, help="name and optionally a tag (name:tag)")
    p.add_argument("-f", "--file", default=None, help="the Dockerfile (default: DIR/Dockerfile)")
    p.add_argument("--target", default=None, metavar="STAGE", help="build this stage (and those it needs) only")
    p.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE", help="set a build-time ARG")
    p.add_argument("--no-cache", action="store_true", help="do not use the layer cache")
    p.add_argument("-q", "--quiet", action="store_true", help="only print the image ID")
    p.add_argument("context", metavar="DIR")
    p.set_defaults(handler=_build)

    p = sub.add_parser("history", help="show the history of an image: each layer, its size and the step that made it")
    _history_arguments(p)

    p = sub.add_parser("save", help="save images to an OCI layout tar (docker load reads it too)")
    p.add_argument("-o", "--output", default=None, help="write to a file instead of stdout")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(handler=_save)

    p = sub.add_parser("load", help="load images from an OCI layout tar or a `docker save` tar")
    p.add_argument("-i", "--input", default=None, help="read from a file instead of stdin")
    p.add_argument("-t", "--tag", default=None, help="name the (first) image NAME:TAG")
    p.set_defaults(handler=_load)

    p = sub.add_parser("image", help="manage images: ls, rm, inspect, prune")
    isub = p.add_subparsers(dest="image_command", metavar="COMMAND")
    q = isub.add_parser("ls", help="list images")
    q.add_argument("-q", "--quiet", action="store_true")
    q.add_argument("--digests", action="store_true")
    q.set_defaults(handler=_images)
    q = isub.add_parser("rm", help="remove images")
    q.add_argument("-f", "--force", action="store_true", help="untag even an image a container uses")
    q.add_argument("images", nargs="+", metavar="IMAGE")
    q.set_defaults(handler=_rmi)
    q = isub.add_parser("inspect", help="show an image's manifest and config as JSON")
    q.add_argument("images", nargs="+", metavar="IMAGE")
    q.set_defaults(handler=_inspect)
    q = isub.add_parser("history", help="show the history of an image")
    _history_arguments(q)
    q = isub.add_parser("prune", help="remove blobs and unpacked layers no image uses")
    q.set_defaults(handler=_prune)
    p.set_defaults(handler=lambda args: (p.print_help(), 0)[1])


def _history_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-H", "--human", nargs="?", const="true", default="true", metavar="true|false",
                   help="print sizes and dates in human readable format (default true; -H=false for bytes and times)")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("image", nargs="?", metavar="IMAGE")
    p.set_defaults(handler=_history)


def _human_and_image(args: argparse.Namespace) -> tuple[bool, str]:
    """Docker's -H is a boolean that also takes a value (-H=false); argparse reads `-H IMAGE` as
    -H's value, so a value that is not true/false is the image."""
    from ..errors import UsageError

    human, image = args.human.lower(), args.image
    if human not in ("true", "false", "1", "0"):
        if image is not None:
            raise UsageError(f"-H={args.human}: expected true or false", step="history")
        human, image = "true", args.human
    if image is None:
        raise UsageError("history needs an IMAGE", step="history", fix="minicontainer history IMAGE")
    return human in ("true", "1"), image


def _store():
    from ..image import Store
    from ..paths import Paths

    return Store(Paths.from_env())


def _images(args: argparse.Namespace) -> int:
    from ..image.history import created_since, human_size
    from ..reference import parse_reference

    rows = []
    for image in _store().images():
        ref = parse_reference(image.reference)
        repo = ref.familiar.rsplit(":", 1)[0] if ref.tag else ref.familiar.split("@")[0]
        rows.append((repo, ref.tag or "<none>", image.manifest_digest, image.short_id,
                     created_since(image.config.get("created", "")), human_size(image.size)))
    if args.quiet:
        for row in rows:
            print(row[3])
        return 0
    head = ("REPOSITORY", "TAG") + (("DIGEST",) if args.digests else ()) + ("IMAGE ID", "CREATED", "SIZE")
    table = [head] + [row[:2] + ((row[2],) if args.digests else ()) + row[3:] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for row in table:
        print("   ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


def _rmi(args: argparse.Namespace) -> int:
    from ..errors import ContainerError

    store = _store()
    status = 0
    for name in args.images:  # as Docker: each image on its own; an error line for those refused, exit 1
        try:
            for removed in store.remove(name, force=args.force):
                print(f"Untagged: {removed}")
        except ContainerError as exc:
            print(f"minicontainer rmi: error: {exc}", file=sys.stderr)
            status = 1
    return status


def _tag(args: argparse.Namespace) -> int:
    """`tag SOURCE TARGET`: one more name for the same manifest (nothing is copied); `push TARGET` then
    sends it to the registry its name says (lesson 09: the primers' tag -> push walk)."""
    from ..errors import ContainerError
    from ..reference import parse_reference

    store = _store()
    found = store.lookup(args.source)
    if found is None:
        raise ContainerError(f"No such image: {args.source}", step="tag", fix="see `minicontainer images`")
    try:
        target = parse_reference(args.target)
    except ContainerError as exc:  # (Docker's words, then which rule the name broke)
        raise ContainerError(f'Error parsing reference: "{args.target}" is not a valid repository/tag: invalid '
                             f"reference format ({exc.message.split(': ', 1)[-1]})", step="tag",
                             fix="name it [REGISTRY/]REPOSITORY[:TAG], lower case, e.g. 127.0.0.1:5000/web:1") from None
    if target.digest:
        raise ContainerError("refusing to create a tag with a digest reference", step="tag",
                             fix="give a tag (NAME:TAG) instead of a digest")
    store.tag(args.target, found[1], found[2])
    return 0


def _commit(args: argparse.Namespace) -> int:
    from ..container import default_paths
    from ..image.commit import commit_container

    image = commit_container(default_paths(), args.container, args.name, args.message)
    print(image.id)
    return 0


def _build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..image.build import build
    from ..paths import Paths

    build_args = dict(a.partition("=")[::2] for a in args.build_arg)
    image = build(Paths.from_env(), Path(args.context), Path(args.file) if args.file else None, args.tag,
                  build_args=build_args, use_cache=not args.no_cache,
                  log=(lambda line: None) if args.quiet else print, target=args.target)
    print(image.id if args.quiet else f"Successfully built {image.short_id}" +
          (f"\nSuccessfully tagged {image.reference}" if image.reference else ""))
    return 0


def _history(args: argparse.Namespace) -> int:
    from ..image.history import history_lines, image_history

    human, name = _human_and_image(args)
    store = _store()
    for line in history_lines(image_history(store, store.resolve(name)), human=human,
                              trunc=not args.no_trunc, quiet=args.quiet):
        print(line)
    return 0


def _save(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..image.archive import save

    store = _store()
    if args.output:
        with open(args.output, "wb") as out:
            save(store, args.images, out)
        return 0
    if sys.stdout.isatty():
        raise UsageError("refusing to write a tar to the terminal", step="save", fix="use -o FILE or redirect stdout")
    save(store, args.images, sys.stdout.buffer)
    return 0


def _load(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..image.archive import load

    store = _store()
    names = load(store, Path(args.input) if args.input else sys.stdin.buffer, args.tag)
    for name in names:
        print(f"Loaded image: {name}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    import json

    store = _store()
    out = []
    for name in args.images:
        image = store.resolve(name)
        out.append({"Id": image.id, "RepoTags": image.tags, "ManifestDigest": image.manifest_digest,
                    "MediaType": image.media_type, "Manifest": image.manifest, "Config": image.config,
                    "Layers": [{"digest": layer.digest, "size": layer.size, "mediaType": layer.media_type,
                                "diff_id": d} for layer, d in zip(image.layers, image.diff_ids)]})
    print(json.dumps(out, indent=2))
    return 0


def _prune(args: argparse.Namespace) -> int:
    removed = _store().gc(grace_seconds=0)
    for item in removed:
        print(f"deleted: {item}")
    print(f"Total reclaimed: {len(removed)} item(s)")
    return 0
