"""Sorting and filtering model cards by their evaluation scores and card fields (GET /v1/models)."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

from core.card import ModelCard
from service.api.problems import Problem

# Sorting reads every card; past this many models a listing sorts the newest ones only.
MAX_SORTED = 10_000
SORT_PATTERN = r"^-?[a-z][a-z0-9_]{0,63}$"
_FILTER = re.compile(r"([a-z][a-z0-9_]{0,63})(>=|<=|==|!=|=|>|<)(.{1,200})")
_NUMBER = r"-?[0-9]{1,30}(?:\.[0-9]{1,30})?(?:[eE][-+]?[0-9]{1,2})?"  # finite: at most 31 digits, exponent < 100
_COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "=": operator.eq,
            "==": operator.eq, "!=": operator.ne}
_TEXT_FIELDS = {"arch": lambda card: card.arch, "dataset": lambda card: card.dataset.id if card.dataset else None,
                "kind": lambda card: card.kind, "data_kind": lambda card: card.data_kind}
_TEXT = "|".join(_TEXT_FIELDS)
# What parse() accepts, for the OpenAPI document: a text field with = or !=, or a score compared with a number.
FILTER_PATTERN = (rf"^(?:(?:{_TEXT})(?:==|!=|=).{{1,200}}"
                  rf"|(?!(?:{_TEXT})[=!<>])[a-z][a-z0-9_]{{0,63}}(?:>=|<=|==|!=|=|>|<){_NUMBER})$")


@dataclass(frozen=True)
class _Filter:
    name: str
    compare: str
    value: str

    def holds(self, card: ModelCard) -> bool:
        if self.name in _TEXT_FIELDS:
            return _COMPARE[self.compare](_TEXT_FIELDS[self.name](card), self.value)
        score = card.metrics.get("scores", {}).get(self.name)
        return isinstance(score, int | float) and _COMPARE[self.compare](score, float(self.value))


@dataclass(frozen=True)
class ModelSelection:
    sort: str | None
    filters: tuple[_Filter, ...]

    @classmethod
    def parse(cls, sort: str | None, where: list[str]) -> ModelSelection:
        filters = []
        for text in where:
            match = _FILTER.fullmatch(text)
            if match is None:
                raise Problem(422, f"where: {text!r} is not a filter; write name, comparison and value, e.g. "
                                   "arch=cgan or confidence>=0.9")
            name, compare, value = match.groups()
            if name in _TEXT_FIELDS and compare not in ("=", "==", "!="):
                raise Problem(422, f"where: {name} is text; compare it with = or !=")
            if name not in _TEXT_FIELDS and not re.fullmatch(_NUMBER, value):
                raise Problem(422, f"where: {name} is a score; compare it with a number, not {value!r}")
            filters.append(_Filter(name, compare, value))
        return cls(sort, tuple(filters))

    def apply(self, cards: list[ModelCard]) -> list[ModelCard]:
        chosen = [card for card in cards if all(f.holds(card) for f in self.filters)]
        if self.sort is None:
            return chosen
        name, lowest_first = self.sort.lstrip("-"), self.sort.startswith("-")

        def key(card: ModelCard) -> tuple[bool, float]:
            score = card.metrics.get("scores", {}).get(name)
            if not isinstance(score, int | float):
                return True, 0.0  # without the score: last, whichever the order
            return False, score if lowest_first else -score

        return sorted(chosen, key=key)
