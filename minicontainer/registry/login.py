"""`minicontainer login`: check credentials against the registry before saving them (lesson 06)."""

from __future__ import annotations

from ..errors import ContainerError
from ..reference import DOCKER_HUB_API_HOST
from .auth import Authenticator, Credentials, registry_key
from .client import RegistryClient
from .insecure import is_insecure
from .transport import Transport


def check_login(server: str, credentials: Credentials, *, insecure: bool = False, ca_file: str | None = None) -> None:
    """GET /v2/ with the credentials (Basic, or a Bearer token got with them); raise if refused."""
    registry = registry_key(server)
    host = DOCKER_HUB_API_HOST if registry == "docker.io" else registry
    transport = Transport(insecure=insecure or is_insecure(registry), ca_file=ca_file)
    client = RegistryClient(host, transport=transport, auth=Authenticator(transport, lambda r: credentials),
                            registry=registry)
    client.ping()
    response = client.request("GET", client.url("/v2/"), ())
    response.read()
    if response.status != 200:
        raise ContainerError(f"{registry} answered {response.status} to the login", step="login",
                             fix="check the username and password")
