"""Models held serialized: a bulk of documents validated and turned into JSON
together (ingestion builds a million of them column by column, without a
model object each), handed to a store as they are."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Serialized(Generic[M]):
    """`texts[i]` is the JSON of the `model` whose id is `ids[i]`, as
    `model_dump_json` would write it. Iterating yields the models (parsed
    back), so code that does not take the bulk path still gets models; a
    store's bulk write takes `ids` and `texts` as they are."""

    model: type[M]
    ids: list[str]
    texts: list[str]

    def __iter__(self) -> Iterator[M]:
        return (self.model.model_validate_json(text) for text in self.texts)

    def __len__(self) -> int:
        return len(self.ids)
