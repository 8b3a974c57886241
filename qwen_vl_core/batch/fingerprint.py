"""The settings an output was produced with, recorded in the output, and checked before resuming.

The first line of every output JSONL is a header (no `id`, so record readers skip it):

    {"qwen_vl_batch": {"version": 1, "fingerprint": "<16 hex>", "settings": {...}}}

`settings` holds the model, the shared prompt and system prompt, the thinking switch (the user's
choice, whether the model will think, the budget), the image settings (max_pixels, high_res, fps),
the sampling options, JSON mode, extra body keys and the wire protocol. Resuming into a file made
with other settings is refused with the differences named; `new_settings=True` writes to a separate
file instead, `<stem>-<fingerprint[:8]><suffix>` next to it (resumable the same way). Per-item
prompts and options are part of the input, not of the settings.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .build import BatchSettings
from .output import HEADER_KEY, OutputState, scan_output
from .thinking import line_thinking

__all__ = [
    "HEADER_KEY",
    "SettingsMismatchError",
    "choose_output",
    "differences",
    "fingerprint",
    "header_for",
    "separate_output",
    "settings_record",
]

_SAMPLING = ("temperature", "top_p", "top_k", "max_tokens", "seed", "stop", "presence_penalty", "repetition_penalty")


class SettingsMismatchError(ValueError):
    """The output holds records produced with other settings."""


def _plain(value: Any) -> Any:
    """The JSON round-trip of a value (tuples become lists), so stored and live settings compare equal."""
    return json.loads(json.dumps(value, default=str))


def settings_record(settings: BatchSettings, *, protocol: str = "openai") -> dict[str, Any]:
    """What an output records about the settings that produced it."""
    options = settings.options
    enable = options.get("thinking")
    record = {
        "model": settings.model,
        "prompt": settings.prompt,
        "system": options.get("system"),
        "thinking": {
            "enable": enable,
            "effective": line_thinking(settings.model, enable).effective,
            "budget": options.get("thinking_budget"),
        },
        "images": {name: options.get(name) for name in ("max_pixels", "high_res", "fps")},
        "sampling": {name: options[name] for name in _SAMPLING if name in options},
        "response_format": options.get("response_format"),
        "extra_body": options.get("extra_body"),
        "protocol": protocol,
    }
    return dict(_plain(record))


def fingerprint(record: Mapping[str, Any]) -> str:
    text = json.dumps(_plain(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def header_for(record: Mapping[str, Any] | None) -> dict[str, Any]:
    """The header line; `record=None` when the settings are unknown (a batch fetched by id alone)."""
    value: dict[str, Any] = {"version": 1, "fingerprint": fingerprint(record) if record is not None else None}
    value["settings"] = dict(record) if record is not None else None
    return {HEADER_KEY: value}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _show(value: Any) -> str:
    if value is None or value == {}:
        return "not set"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """`key old → new` for every setting that differs (nested keys dotted), in the record's order."""
    before, after = _flatten(_plain(old)), _flatten(_plain(new))
    keys = list(after) + [k for k in before if k not in after]
    return [f"{k} {_show(before.get(k))} → {_show(after.get(k))}" for k in keys if before.get(k) != after.get(k)]


def separate_output(path: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    """Where `new_settings` writes: the same name with the settings' fingerprint before the suffix."""
    target = Path(path)
    return target.with_name(f"{target.stem}-{fingerprint(record)[:8]}{target.suffix}")


def choose_output(
    out: str | os.PathLike[str], record: Mapping[str, Any], *, new_settings: bool = False
) -> tuple[Path, OutputState, str | None]:
    """The file to write (`out`, or the separate one), what it holds, and a note for the user (or None).

    Raises `SettingsMismatchError` when `out` holds records made with other settings and
    `new_settings` is false.
    """
    path = Path(out)
    state = scan_output(path)
    if not state.records:
        return path, state, None
    header = state.header
    if header is None:
        return path, state, f"{path} has no settings record (written by an older version): settings not checked"
    stored = header.get("settings")
    if not isinstance(stored, Mapping):
        return path, state, f"{path} was fetched by batch id alone (settings unknown): settings not checked"
    changed = differences(stored, record)
    if not changed:
        return path, state, None
    other = separate_output(path, record)
    listed = "; ".join(changed)
    if not new_settings:
        raise SettingsMismatchError(
            f"{path} holds {state.records:,} records produced with other settings ({listed}). Resuming would pass "
            f"them off as answers to these settings. Run with the same settings, write to another --out, or pass "
            f"--new-settings to start {other}."
        )
    other_state = scan_output(other)
    other_header = other_state.header
    if other_state.records and isinstance(other_header, Mapping):
        other_settings = other_header.get("settings")
        if isinstance(other_settings, Mapping) and differences(other_settings, record):
            raise SettingsMismatchError(f"{other} holds records of yet other settings; choose another --out.")
    return other, other_state, f"settings differ from {path} ({listed}): writing {other}"
