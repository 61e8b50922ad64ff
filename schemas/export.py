"""`radar schemas export DIR`: one JSON Schema file per contract."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.alert import AlertSummary
from schemas.envelope import CONTRACTS

__all__ = ["DOCUMENTS", "export_json_schemas"]

# Documents that leave the pipeline without crossing Kafka (so they are no envelopes), whose readers
# still want their schema: what a webhook receives when its quiet hours end.
DOCUMENTS: dict[str, type] = {"alert-summary/1": AlertSummary}


def export_json_schemas(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for tag, model in {**CONTRACTS, **DOCUMENTS}.items():
        assert issubclass(model, BaseModel)
        schema_name, version = tag.split("/")
        schema = model.model_json_schema(by_alias=True, mode="serialization")
        schema["$id"] = f"urn:frontier-radar:{schema_name}:v{version}"
        path = out_dir / f"{schema_name}.v{version}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
