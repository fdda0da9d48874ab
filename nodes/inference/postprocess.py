"""Model-agnostic postprocessors a model_runner can be configured with by name.

Task-specific ones (text boxes, CTC text) live with their task in nodes/ocr.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np


class TopK(NamedTuple):
    index: int
    score: float
    label: str | None


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Subtracting the max keeps exp() finite for large logits."""
    shifted = logits - np.max(logits, axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / np.sum(exp, axis=axis, keepdims=True)


def softmax_topk(scores: np.ndarray, k: int = 5, labels: Sequence[str] | None = None,
                 apply_softmax: bool = True) -> list[list[TopK]]:
    """Best k classes per batch row; set apply_softmax=False when the model ends in softmax."""
    scores = np.asarray(scores, dtype=np.float32)
    scores = scores.reshape(1, -1) if scores.ndim == 1 else scores.reshape(scores.shape[0], -1)
    probs = softmax(scores) if apply_softmax else scores
    k = max(1, min(k, probs.shape[1]))
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [[TopK(int(i), float(row[i]), labels[i] if labels is not None and i < len(labels)
                  else None) for i in idx] for row, idx in zip(probs, top)]


def raw_tensors(names: Sequence[str], outputs: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Pass outputs through by name, the default when no postprocessor is configured."""
    if len(names) != len(outputs):
        raise ValueError(f"{len(outputs)} outputs for {len(names)} names: {list(names)}")
    return {name: np.asarray(value) for name, value in zip(names, outputs)}
