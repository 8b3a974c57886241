"""What batch lines say about thinking: the one place batch code reads `spec.thinking` / `thinking_default`.

The Batch API pages ask for `enable_thinking` to be set explicitly with hybrid models, because the
Qwen3.5 and later series think by default and thinking tokens cost money ("建议使用混合思考模型时,
显式设置enable_thinking参数", https://help.aliyun.com/zh/model-studio/batch-interfaces-compatible-with-openai).
So a hybrid model's line carries the user's choice, or else the model's default written out. When
the default is unknown (a model the catalog does not know, or `thinking_default is None`), nothing
is written unless the user chose, and `warn_if_unknown` says so once per run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from ..catalog import get_spec

__all__ = ["BatchThinkingWarning", "LineThinking", "line_thinking", "warn_if_unknown"]


class BatchThinkingWarning(UserWarning):
    """A hybrid model whose default thinking mode is unknown: batch lines leave `enable_thinking` out."""


@dataclass(frozen=True)
class LineThinking:
    send: bool | None
    """The `enable_thinking` value to write on the line (None: leave it out)."""
    effective: bool | None
    """Whether the model will think (None: unknown)."""


def line_thinking(model: str, enable: bool | None) -> LineThinking:
    """The thinking switch for `model` when the user chose `enable` (None: no choice)."""
    spec = get_spec(model, warn=False)
    if spec.thinking == "only":
        return LineThinking(enable, True)  # the policies reject False and echo True only where allowed
    if enable is not None:
        return LineThinking(enable, enable)
    default: bool | None = spec.thinking_default if spec.known else None
    return LineThinking(default, default)


def warn_if_unknown(model: str, enable: bool | None) -> None:
    """Warn when `model` is hybrid (or unknown), the user did not choose, and its default is unknown."""
    if enable is None and line_thinking(model, None).effective is None:
        warnings.warn(
            f"{model}: whether it thinks by default is not known here, so batch lines leave enable_thinking out "
            "and the server's default applies (thinking costs more). Choose with --thinking or --no-thinking "
            "(options={'thinking': ...}).",
            BatchThinkingWarning,
            stacklevel=3,
        )
