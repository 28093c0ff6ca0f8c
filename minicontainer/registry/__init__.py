"""Registries: the OCI distribution API, authentication, pull, push and the lab registry (lesson 06).

  transport.py  HTTP with retries (5xx/429, Retry-After), safe redirects, TLS options
  auth.py       401 challenges, Bearer tokens, Basic, ~/.docker/config.json and credential helpers
  client.py     manifests, blobs (verified, resumable), uploads (monolithic, chunked, mounts), tags
  platforms.py  picking one manifest from a multi-platform index
  pull.py       reference -> verified blobs in the local store
  mirrors.py    Docker's registry-mirrors (daemon.json): tried first for Docker Hub images
  push.py       stored image -> registry
  progress.py   tqdm / ipywidgets progress bars
  server.py     Debian's docker-registry on 127.0.0.1 (`minicontainer registry start|stop`)
"""

from __future__ import annotations

from ..paths import Paths


def sweep(paths: Paths) -> list[str]:
    """Stop the lab registry if it runs (called by `minicontainer reset`)."""
    from .server import sweep as sweep_server

    return sweep_server(paths)
