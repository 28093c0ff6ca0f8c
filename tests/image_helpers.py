"""Helpers for the image tests: the default image in a private store, and variants of it."""

from __future__ import annotations

from minicontainer.image import Store, prepare_default_image
from minicontainer.image.mutate import base_state, write_image
from minicontainer.paths import Paths


def default_store(paths: Paths) -> Store:
    """A store under `paths` holding the course's default image (localhost/busybox:latest)."""
    prepare_default_image(paths)
    return Store(paths)


def variant(store: Store, tag: str, **config) -> str:
    """Store the default image with some config fields changed under `tag`; returns its manifest digest."""
    layers, full = base_state(store.resolve("localhost/busybox:latest"))
    full["config"].update(config)
    write_image(store, layers, full, tag)
    return store.resolve(tag).manifest_digest
