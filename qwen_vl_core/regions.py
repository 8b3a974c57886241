"""Regions, base URLs and API-key lookup: the only module that reads the environment.

`intl` (Singapore) is the default. `us` is Virginia, which the Global deployment mode also uses.
`cn` is Beijing. An explicit `base_url` wins over everything. Keys are region-specific.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from .errors import MissingAPIKeyError

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "REGIONS",
    "REGION_ENV",
    "Endpoint",
    "Protocol",
    "Region",
    "is_dashscope_host",
    "require_api_key",
    "resolve_api_key",
    "resolve_endpoint",
]

API_KEY_ENV = "DASHSCOPE_API_KEY"
REGION_ENV = "DASHSCOPE_REGION"
BASE_URL_ENV = "DASHSCOPE_BASE_URL"

Region = Literal["intl", "us", "cn"]
Protocol = Literal["openai", "dashscope"]

_HOSTS: dict[str, str] = {
    "intl": "https://dashscope-intl.aliyuncs.com",
    "us": "https://dashscope-us.aliyuncs.com",
    "cn": "https://dashscope.aliyuncs.com",
}
_REGION_NAMES = {"intl": "Singapore (intl)", "us": "Virginia (us)", "cn": "Beijing (cn)"}
_PATHS: dict[str, str] = {"openai": "/compatible-mode/v1", "dashscope": "/api/v1"}

REGIONS: Mapping[str, Mapping[str, str]] = {
    region: {protocol: host + path for protocol, path in _PATHS.items()} for region, host in _HOSTS.items()
}
"""Base URL per region and protocol."""


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    region: str | None
    """The region the URL belongs to, or None for a custom base URL."""
    protocol: Protocol

    @property
    def is_dashscope(self) -> bool:
        """A Model Studio host: the only place `DASHSCOPE_API_KEY` is ever sent."""
        return is_dashscope_host(self.base_url)

    @property
    def speaks_dashscope(self) -> bool:
        """Takes DashScope's parameters (`enable_thinking` top level): a Model Studio host, the native
        protocol, or a `/compatible-mode/v1` path (a gateway or the emulator in front of DashScope)."""
        return self.is_dashscope or self.protocol == "dashscope" or self.base_url.endswith("/compatible-mode/v1")

    def describe(self) -> str:
        if self.region is not None:
            return f"region {_REGION_NAMES[self.region]}, {self.base_url}"
        return f"base URL {self.base_url}"


def is_dashscope_host(url: str) -> bool:
    """True for Model Studio hosts over https, and only those: `dashscope[-region].aliyuncs.com`,
    `<region>.dashscope.aliyuncs.com` and workspace hosts `<id>.<region>.maas.aliyuncs.com`.

    Matched label by label, not by substring: other `*.aliyuncs.com` names can be chosen by anyone
    (an OSS bucket `dashscope-x` is `dashscope-x.oss-cn-beijing.aliyuncs.com`) and must never get
    `DASHSCOPE_API_KEY`; nor does plain http, where the key would travel in clear text.
    """
    parts = urlsplit(url)
    labels = (parts.hostname or "").lower().split(".")
    if parts.scheme.lower() != "https" or labels[-2:] != ["aliyuncs", "com"]:
        return False
    if len(labels) == 3:
        return labels[0] == "dashscope" or labels[0].startswith("dashscope-")
    if len(labels) == 4:
        return labels[1] == "dashscope"
    return len(labels) == 5 and labels[2] == "maas"


def resolve_endpoint(
    *,
    region: str | None = None,
    base_url: str | None = None,
    protocol: Protocol = "openai",
    env: Mapping[str, str] | None = None,
) -> Endpoint:
    """Explicit `base_url` > explicit `region` > `DASHSCOPE_BASE_URL` > `DASHSCOPE_REGION` > intl."""
    environ = os.environ if env is None else env
    if base_url:
        return Endpoint(base_url.rstrip("/"), None, protocol)
    if region is None:
        env_url = environ.get(BASE_URL_ENV)
        if env_url:
            return Endpoint(env_url.rstrip("/"), None, protocol)
    chosen = (region or environ.get(REGION_ENV) or "intl").strip().lower()
    if chosen not in REGIONS:
        source = "region" if region else REGION_ENV
        raise ValueError(
            f"Unknown {source} {chosen!r}: use 'intl' (Singapore), 'us' (Virginia, also the Global "
            "deployment) or 'cn' (Beijing), or pass base_url= for a workspace or self-hosted endpoint."
        )
    return Endpoint(REGIONS[chosen][protocol], chosen, protocol)


def resolve_api_key(api_key: SecretStr | str | None, env: Mapping[str, str] | None = None) -> SecretStr | None:
    """The explicit key, else `DASHSCOPE_API_KEY`; None when neither is set."""
    if isinstance(api_key, SecretStr):
        return api_key if api_key.get_secret_value() else None
    if api_key:
        return SecretStr(api_key)
    value = (os.environ if env is None else env).get(API_KEY_ENV)
    return SecretStr(value) if value else None


def require_api_key(key: SecretStr | None, endpoint: Endpoint) -> SecretStr:
    """Return the key, or raise the error that says exactly what to set."""
    if key is not None:
        return key
    raise MissingAPIKeyError(
        f"No DashScope API key: set the {API_KEY_ENV} environment variable (or pass api_key=) to a "
        f"Model Studio key for {endpoint.describe()}. Keys are region-specific. For a self-hosted "
        "OpenAI-compatible server, pass base_url= (and api_key= if it needs one)."
    )
