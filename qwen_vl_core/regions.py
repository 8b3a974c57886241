"""Regions, base URLs and API-key lookup: the only module that reads the environment.

`intl` (Singapore) is the default. `us` is Virginia, which the Global deployment mode also uses.
`cn` is Beijing, `hk` Hong Kong, `eu` Frankfurt, `jp` Tokyo; each also by its region id
(`ap-southeast-1`, ...). An explicit `base_url` wins over everything. Keys are region-specific.

Hosts (help.aliyun.com/zh/model-studio/qwen-api-via-openai-chat-completions, and the DashScope API
reference alibabacloud.com/help/en/model-studio/qwen-api-via-dashscope): every region has workspace
domains `https://{WorkspaceId}.{region-id}.maas.aliyuncs.com` (the recommended form; "现有域名仍可
正常使用", the shared hosts keep working). Shared hosts exist for Beijing, Singapore, Virginia and
Hong Kong; Frankfurt and Tokyo have none, so they need `workspace_id` (or a `base_url`).
"""

from __future__ import annotations

import os
import re
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
    "REGION_IDS",
    "Endpoint",
    "Protocol",
    "Region",
    "is_dashscope_host",
    "region_of",
    "require_api_key",
    "resolve_api_key",
    "resolve_endpoint",
]

API_KEY_ENV = "DASHSCOPE_API_KEY"
REGION_ENV = "DASHSCOPE_REGION"
BASE_URL_ENV = "DASHSCOPE_BASE_URL"

Region = Literal["intl", "us", "cn", "hk", "eu", "jp"]
Protocol = Literal["openai", "dashscope"]

_WORKSPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")
REGION_IDS: Mapping[str, str] = {
    "cn": "cn-beijing",
    "intl": "ap-southeast-1",
    "us": "us-east-1",
    "hk": "cn-hongkong",
    "eu": "eu-central-1",
    "jp": "ap-northeast-1",
}
"""Short region name → Alibaba Cloud region id (the workspace-domain label)."""
_HOSTS: dict[str, str] = {
    "intl": "https://dashscope-intl.aliyuncs.com",
    "us": "https://dashscope-us.aliyuncs.com",
    "cn": "https://dashscope.aliyuncs.com",
    "hk": "https://cn-hongkong.dashscope.aliyuncs.com",
}
"""The shared (legacy) hosts; Frankfurt and Tokyo have none."""
_REGION_NAMES = {
    "intl": "Singapore (intl)",
    "us": "Virginia (us)",
    "cn": "Beijing (cn)",
    "hk": "Hong Kong (hk)",
    "eu": "Frankfurt (eu)",
    "jp": "Tokyo (jp)",
}
_BY_ID = {region_id: name for name, region_id in REGION_IDS.items()}
_PATHS: dict[str, str] = {"openai": "/compatible-mode/v1", "dashscope": "/api/v1"}

REGIONS: Mapping[str, Mapping[str, str]] = {
    region: {protocol: host + path for protocol, path in _PATHS.items()} for region, host in _HOSTS.items()
}
"""Base URL per region and protocol, for the regions with a shared host."""


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


def region_of(url: str) -> str | None:
    """The region of a Model Studio URL (a shared host or a workspace domain), else None."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    origin = f"https://{host}"
    for region, shared in _HOSTS.items():
        if origin == shared:
            return region
    labels = host.split(".")
    if len(labels) == 5 and labels[2:] == ["maas", "aliyuncs", "com"]:
        return _BY_ID.get(labels[1])
    return None


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
    workspace_id: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Endpoint:
    """Explicit `base_url` > explicit `region` > `DASHSCOPE_BASE_URL` > `DASHSCOPE_REGION` > intl.

    With `workspace_id`, the region's workspace domain is used instead of its shared host.
    """
    environ = os.environ if env is None else env
    if base_url:
        return Endpoint(base_url.rstrip("/"), region_of(base_url), protocol)
    if region is None and not workspace_id:
        env_url = environ.get(BASE_URL_ENV)
        if env_url:
            return Endpoint(env_url.rstrip("/"), region_of(env_url), protocol)
    source = "region" if region else REGION_ENV
    chosen = (region or environ.get(REGION_ENV) or "intl").strip().lower()
    chosen = _BY_ID.get(chosen, chosen)
    if chosen not in REGION_IDS:
        raise ValueError(
            f"Unknown {source} {chosen!r}: use 'intl' (Singapore), 'us' (Virginia, also the Global "
            "deployment), 'cn' (Beijing), 'hk' (Hong Kong), 'eu' (Frankfurt) or 'jp' (Tokyo), or pass "
            "base_url= for a self-hosted endpoint."
        )
    if workspace_id:
        if not _WORKSPACE.fullmatch(workspace_id):
            raise ValueError(
                f"workspace_id must be a Model Studio workspace id (letters, digits, '-'); got {workspace_id!r}."
            )
        host = f"https://{workspace_id.lower()}.{REGION_IDS[chosen]}.maas.aliyuncs.com"
        return Endpoint(host + _PATHS[protocol], chosen, protocol)
    if chosen not in _HOSTS:
        raise ValueError(
            f"{_REGION_NAMES[chosen]} has no shared endpoint: pass workspace_id= (your Model Studio workspace "
            f"id), or base_url='https://{{WorkspaceId}}.{REGION_IDS[chosen]}.maas.aliyuncs.com{_PATHS[protocol]}'."
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
