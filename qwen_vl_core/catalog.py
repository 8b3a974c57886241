"""Model catalog: name → `ModelSpec`, with the user's own registrations first.

The families and their sourced facts are in `catalog_data` (and `docs/models.md`). Dated
(`-2026-04-02`), `-latest` and `-us` names and Hugging Face ids resolve to their family. A name the
catalog does not know gets the unknown spec, which assumes nothing (see `catalog_types`), and one
`UnknownModelWarning` that suggests close names and how to describe the model:
`register_model(ModelSpec(...))`, `register_model(name, like="qwen3.6-plus")`, or an adapter's
`model_spec=`.
"""

from __future__ import annotations

import difflib
import functools
import re
import sys
import threading
import warnings
from dataclasses import replace
from typing import Any

from .catalog_data import FAMILIES, NAMES
from .catalog_types import GroundingCoordinates, ModelSpec, ThinkingKind

__all__ = [
    "KNOWN_MODELS",
    "GroundingCoordinates",
    "ModelSpec",
    "ThinkingKind",
    "UnknownModelWarning",
    "get_spec",
    "list_specs",
    "model_hint",
    "register_model",
    "unknown_spec",
]

KNOWN_MODELS: tuple[str, ...] = NAMES


class UnknownModelWarning(UserWarning):
    """A model name the catalog does not know; the safe unknown spec is used."""


_UNKNOWN = ModelSpec(
    name="",
    family="unknown",
    thinking="hybrid",
    thinking_default=None,
    stream_only=False,
    supports_tools=None,
    supports_json_mode=None,
    supports_thinking_budget=None,
    supports_preserve_thinking=None,
    context_window=None,
    max_input_tokens=None,
    max_input_tokens_non_thinking=None,
    max_output_tokens=None,
    max_reasoning_tokens=None,
    pixel_unit=32,  # every current family but QVQ; only used to size images within the largest budget
    default_max_pixels=None,
    high_res_max_pixels=None,
    known=False,
)

_SUFFIX = re.compile(r"(?:-latest|-\d{4}-\d{2}-\d{2})?(?:-us)?$")
_REGISTERED: dict[str, ModelSpec] = {}
_LOCK = threading.Lock()


def unknown_spec(name: str) -> ModelSpec:
    """The spec for a name nothing is known about (what `get_spec` returns for one)."""
    return replace(_UNKNOWN, name=name)


def _family_of(name: str) -> str | None:
    # Self-hosted servers use Hugging Face ids ("Qwen/Qwen3-VL-8B-Thinking"); the part after "/" counts.
    lowered = name.strip().lower().rsplit("/", 1)[-1]
    if lowered in FAMILIES:
        return lowered
    stripped = _SUFFIX.sub("", lowered, count=1)
    return stripped if stripped in FAMILIES else None


@functools.lru_cache(maxsize=1024)
def _lookup(name: str) -> ModelSpec:
    registered = _REGISTERED.get(name)
    if registered is not None:
        return registered
    family = _family_of(name)
    if family is None:
        return unknown_spec(name)
    spec = FAMILIES[family]
    return spec if spec.name == name else replace(spec, name=name)


def register_model(spec: ModelSpec | str, *, like: str | None = None, **changes: Any) -> ModelSpec:
    """Describe a model the catalog does not know (or correct one it does); returns the spec used.

        register_model(ModelSpec(name="my-vl", family="my-vl", ...))      # a whole spec
        register_model("qwen3.6-plus-2026-11-01", like="qwen3.6-plus")      # a new snapshot
        register_model("qwen3.6-plus", max_output_tokens=65_536)            # one fact changed

    Registrations win over the catalog for exactly that name, process-wide.
    """
    if isinstance(spec, ModelSpec):
        if like is not None:
            raise ValueError("register_model: pass either a ModelSpec or a name with like=, not both.")
        new = replace(spec, **changes) if changes else spec
    else:
        base = get_spec(like if like is not None else spec, warn=False)
        if not base.known and like is not None:
            raise ValueError(f"register_model: like={like!r} is not a catalog model; use one of KNOWN_MODELS.")
        new = replace(base, name=spec, known=True, **changes)
        if not base.known:
            new = replace(new, family=spec)
    with _LOCK:
        _REGISTERED[new.name] = new
        _lookup.cache_clear()
        _warned.clear()
    return new


_FRAMEWORK_PREFIXES = (
    "qwen_vl_core",
    "langchain_qwen_vl",
    "llama_index_qwen_vl",
    "langchain_core",
    "langchain",
    "langgraph",
    "llama_index",
    "pydantic",
    "workflows",
)


def _caller_stacklevel() -> int:
    """The stack level of the first frame outside this library and the frameworks (the user's line)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(_FRAMEWORK_PREFIXES) and module not in ("functools", "contextlib"):
            return level
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return 2


_warned: set[str] = set()


def _warn_unknown(name: str) -> None:
    with _LOCK:
        if name in _warned:
            return
        _warned.add(name)
    close = difflib.get_close_matches(name.lower(), KNOWN_MODELS, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""  # as model_hint says it
    warnings.warn(
        f"Model {name!r} is not in the qwen-vl catalog, so nothing about it is assumed: every call streams, "
        "thinking_budget and input sizes are left to the server, images are not downscaled below the "
        "high-resolution budget, and forced tool choice or JSON mode send enable_thinking=false."
        f"{hint} Describe it with qwen_vl_core.register_model(...) (like='qwen3.6-plus' for a new snapshot of a "
        "known family) or the adapter's model_spec=.",
        UnknownModelWarning,
        stacklevel=_caller_stacklevel(),
    )


def model_hint(name: str) -> str:
    """For a model-not-found error: the catalog's names close to `name` ("" for a name the catalog
    knows, which is then missing from the region or the account, as the error's own hint says)."""
    if _lookup(name).known:
        return ""
    close = difflib.get_close_matches(name.lower(), KNOWN_MODELS, n=3, cutoff=0.6)
    close = [c for c in close if c != name]
    return f"Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def get_spec(name: str, *, warn: bool = True) -> ModelSpec:
    """The spec for a model name; an unknown name gets the unknown spec and, once, a warning."""
    spec = _lookup(name)
    if warn and not spec.known:
        _warn_unknown(name)
    return spec


def list_specs() -> list[ModelSpec]:
    """Specs for every model name the docs list, in catalog order, then the registered ones."""
    names = [*KNOWN_MODELS, *(n for n in _REGISTERED if n not in KNOWN_MODELS)]
    return [get_spec(name) for name in names]
