"""Choosing one image from a multi-platform index (lesson 06).

`docker.io/library/busybox:latest` is not one image but an *index*: a list of manifests, one per
platform (`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`, ...), and since BuildKit also
*attestations* (SBOMs, provenance) whose platform is `unknown/unknown`. A pull picks the entry for
the platform it runs on (or the one `--platform` names).

Names differ between tools, so both sides are normalised first, as containerd does:
`aarch64` = `arm64` = `arm64/v8`; `arm` = `arm/v7`; `x86_64` = `amd64`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import ContainerError

ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm",
                "i386": "386", "i686": "386"}
DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}
ATTESTATION_TYPE = "attestation-manifest"


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def normalize(os_name: str, architecture: str, variant: str = "") -> Platform:
    """linux/aarch64 -> linux/arm64/v8; linux/arm -> linux/arm/v7; linux/x86_64 -> linux/amd64."""
    os_name = os_name.lower()
    architecture = architecture.lower()
    variant = variant.lower()
    if architecture == "armel" and not variant:
        variant = "v6"
    architecture = ARCH_ALIASES.get(architecture, architecture)
    if architecture == "arm64" and variant == "8":
        variant = "v8"
    if not variant:
        variant = DEFAULT_VARIANT.get(architecture, "")
    return Platform(os_name, architecture, variant)


def parse_platform(text: str) -> Platform:
    """'linux/arm64' -> Platform('linux', 'arm64', 'v8')."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ContainerError(f"invalid platform {text!r}", step="parse platform",
                             fix="write OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8")
    return normalize(*parts)


def host_platform() -> Platform:
    """The platform this machine runs natively."""
    return normalize("linux", os.uname().machine)


def is_attestation(entry: dict) -> bool:
    """BuildKit's attestation entries: platform unknown/unknown or annotated as attestations."""
    p = entry.get("platform") or {}
    annotations = entry.get("annotations") or {}
    return (p.get("os") == "unknown" and p.get("architecture") == "unknown") or \
        annotations.get("vnd.docker.reference.type") == ATTESTATION_TYPE


def select_manifest(index: dict, wanted: Platform) -> dict:
    """The index entry (a descriptor dict) for `wanted`, skipping attestations; clear error if none
    (exercise 6.4). Platforms are compared normalized (arm64 = arm64/v8, arm = arm/v7)."""
    available = []
    for entry in index.get("manifests") or []:
        if is_attestation(entry):
            continue
        p = entry.get("platform") or {}
        if not p.get("os") or not p.get("architecture"):
            continue
        have = normalize(p["os"], p["architecture"], p.get("variant", ""))
        available.append(str(have))
        if have == wanted:
            return entry
    raise ContainerError(
        f"no image for platform {wanted} in this index (it has: {', '.join(available) or 'nothing runnable'})",
        step="choose platform",
        fix="choose one of the listed platforms with --platform",
    )
