"""Batch prices: ``[prices.<model>]`` gains ``batch_input`` and ``batch_output`` (USD per 1M tokens).

A model without them is charged half its online prices, the Batch API's usual
discount. ``cost_fields`` gives ``stats.json`` the batch cost beside the cost
the same tokens would have had online.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selfinstruct.engine.stats import DEFAULT_PRICES, PriceTable
from selfinstruct.errors import ConfigError

__all__ = ["BatchPrices", "cost_fields", "BATCH_DISCOUNT"]

BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class BatchPrices:
    """Online prices (``PriceTable``) and batch prices, per model."""

    online: PriceTable = field(default_factory=PriceTable)
    batch: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {m: (i * BATCH_DISCOUNT, o * BATCH_DISCOUNT) for m, (i, o) in DEFAULT_PRICES.items()})

    @classmethod
    def from_table(cls, table: Any, *, source: str = "<config>") -> "BatchPrices":
        """From a TOML ``[prices]`` table of ``model = {input, output, batch_input?, batch_output?}``."""
        online = PriceTable.from_table(table, source=source)
        batch = {m: (i * BATCH_DISCOUNT, o * BATCH_DISCOUNT) for m, (i, o) in online.prices.items()}
        for model, p in (table or {}).items():
            extra = set(p) - {"input", "output", "batch_input", "batch_output"}
            if extra:
                raise ConfigError(f"{source}: unknown key {sorted(extra)[0]!r} in [prices.{model}] "
                                  f"(known keys: batch_input, batch_output, input, output)")
            i, o = online.prices[model]
            pair = (p.get("batch_input", i * BATCH_DISCOUNT), p.get("batch_output", o * BATCH_DISCOUNT))
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1e9 for v in pair):
                raise ConfigError(f"{source}: [prices.{model}] batch_input and batch_output must be numbers in "
                                  f"[0, 1e9] (USD per 1M tokens), got {pair!r}")
            batch[model] = (float(pair[0]), float(pair[1]))
        return cls(online, batch)

    def batch_cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.batch.get(model)
        if price is None:
            matches = [k for k in self.batch if model.startswith(k + "-")]
            if not matches:
                return None
            price = self.batch[max(matches, key=len)]
        return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6


def cost_fields(prices: BatchPrices, model: str, batch_tokens: tuple[int, int],
                online_tokens: tuple[int, int]) -> dict[str, Any]:
    """The run's cost split: what the batch answers cost, what the online ones cost, and what all of it
    would have cost online (None where the model has no price)."""
    batch = prices.batch_cost(model, *batch_tokens)
    online = prices.online.cost(model, *online_tokens)
    equivalent = prices.online.cost(model, batch_tokens[0] + online_tokens[0], batch_tokens[1] + online_tokens[1])
    total = None if batch is None or online is None else batch + online
    return {"cost_batch_usd": _round(batch), "cost_online_usd": _round(online), "cost_total_usd": _round(total),
            "cost_online_equivalent_usd": _round(equivalent),
            "batch_prompt_tokens": batch_tokens[0], "batch_completion_tokens": batch_tokens[1]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
