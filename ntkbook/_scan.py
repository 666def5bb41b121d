"""The training loop shared by the package: ``record_every`` steps, then a record, as one ``lax.scan``."""

from __future__ import annotations

from typing import Callable

from jax import lax


def recorded(step: Callable, observe: Callable, state, num_records: int, record_every: int):
    """Apply ``step`` ``num_records * record_every`` times from ``state``, recording
    ``observe(state)`` after every ``record_every`` steps. Memory holds only the records.

    Returns ``(final_state, observe(initial_state), stacked_records)``; call inside ``jax.jit``.
    """

    def block(current, _):
        current = lax.fori_loop(0, record_every, lambda _, s: step(s), current)
        return current, observe(current)

    final, records = lax.scan(block, state, None, length=num_records)
    return final, observe(state), records
