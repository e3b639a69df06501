"""Batches of similar length: padding a short item to the longest in its batch is wasted compute,
so every encoder and the training loop group items by length first."""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np


def length_sorted_batches(items: Sequence, batch_size: int, key: Callable = len,
                          longest_first: bool = False) -> Iterator[np.ndarray]:
    """Index arrays into `items`, each of up to `batch_size` items of similar `key(item)`, every
    index exactly once. Ties keep their input order (a stable sort), so batches are reproducible."""
    lengths = np.array([key(item) for item in items])
    order = np.argsort(-lengths if longest_first else lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]
