"""Types shared by several contracts."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "CATEGORIES",
    "Category",
    "Contract",
    "KafkaCoordinates",
    "SourceKind",
    "SourceRef",
    "Tier",
    "Verification",
    "ItemType",
]

Category = Literal[
    "capital",
    "security-access",
    "infrastructure",
    "on-device",
    "open-source",
    "agents",
    "research",
    "policy",
    "product",
]
CATEGORIES: tuple[Category, ...] = Category.__args__  # type: ignore[attr-defined]
Verification = Literal["verified-by-official", "corroborated", "unverified"]
Tier = Literal["official", "media", "research", "social", "community"]
SourceKind = Literal["feed", "html", "arxiv", "x", "jsonl"]
ItemType = Literal["fact", "trend", "opinion"]


class Contract(BaseModel):
    """Base of every contract: immutable, strict about unknown keys, JSON by alias."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        serialize_by_alias=True,
        ser_json_bytes="base64",
        val_json_bytes="base64",
    )

    def copy_with(self, update: dict[str, Any]) -> Self:
        """`model_copy(update=update)` without its generic detours (copy.copy three times).

        Same result: a shallow copy with `update` written over the fields (not validated, as with
        model_copy) and added to the fields set. The stages copy every item four times, so it counts;
        it lives here because it relies on how pydantic lays out a model.
        """
        if self.__pydantic_extra__ is not None or self.__pydantic_private__ is not None:
            return self.model_copy(update=update)
        cls = type(self)
        copied = cls.__new__(cls)
        values = self.__dict__.copy()
        values.update(update)
        fields_set = set(self.__pydantic_fields_set__)
        fields_set.update(update)
        # The model is frozen: its own attribute protocol refuses these writes.
        object.__setattr__(copied, "__dict__", values)
        object.__setattr__(copied, "__pydantic_extra__", None)
        object.__setattr__(copied, "__pydantic_fields_set__", fields_set)
        object.__setattr__(copied, "__pydantic_private__", None)
        return copied


class SourceRef(Contract):
    """Which configured source produced a record, and how much its word weighs."""

    name: str = Field(min_length=1)
    kind: SourceKind
    tier: Tier
    publisher: str = Field(min_length=1, description="human name of the publisher, e.g. 'OpenAI'")
    organisation: str | None = Field(None, description="organisation slug when the source is its official voice")
    url: str = Field(description="the configured source URL (feed, API endpoint, page)")


class KafkaCoordinates(Contract):
    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    key: str | None = None
    timestamp: AwareDatetime | None = None
