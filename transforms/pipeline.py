"""The processing pipeline of one micro-batch, stage by stage.

    offset ranges ─► read ─► parse ─► normalize ─► dedupe ─► classify ─► extract ─► cluster ─► score
                                     every stage's dead letters ─► one NDJSON output

Runner-agnostic: nothing here assumes an in-process runner. Outputs leave as NDJSON
files in the batch directory (a local path here, an object-store prefix on Dataflow),
which `infra.sink` loads into DuckDB together with the consumed offsets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from infra.config import Settings
from schemas.envelope import dump_envelope
from transforms.classify import Classify
from transforms.cluster import ClusterIntoEvents, EventIndex
from transforms.dedupe import Dedupe, DedupeIndex
from transforms.extract import Extract
from transforms.normalize import Normalize
from transforms.read import OffsetRange, ParseEnvelopes, ReadOffsetRanges
from transforms.score import ScoreEvents

__all__ = ["BatchState", "ProcessBatch", "run_batch"]


@dataclass(frozen=True)
class BatchState:
    """Cross-batch state read from DuckDB before the batch; enters as side inputs."""

    dedupe_index: DedupeIndex
    event_index: EventIndex
    as_of: datetime


def _to_json_line(model: Any) -> str:
    return dump_envelope(model).decode()


class ProcessBatch(beam.PTransform):
    """OffsetRange -> {'items', 'events', 'dead_letters'} PCollections of models."""

    def __init__(self, bootstrap: str, settings: Settings, state: BatchState) -> None:
        super().__init__()
        self._bootstrap = bootstrap
        self._settings = settings
        self._state = state

    def expand(self, ranges: beam.PCollection) -> dict[str, beam.PCollection]:
        p = ranges.pipeline
        proc = self._settings.processor
        # One-element PCollections; the stages wrap them as singleton side inputs.
        dedupe_index = p | "DedupeIndex" >> beam.Create([self._state.dedupe_index])
        event_index = p | "EventIndex" >> beam.Create([self._state.event_index])

        records = ranges | "Read" >> ReadOffsetRanges(self._bootstrap, self._settings.kafka)
        parsed = records | "Parse" >> ParseEnvelopes()
        normalized = parsed.good | "Normalize" >> Normalize()
        deduped = normalized.good | "Dedupe" >> Dedupe(dedupe_index, threshold=proc.near_duplicate_threshold)
        classified = deduped.good | "Classify" >> Classify()
        extracted = classified.good | "Extract" >> Extract()
        clustered = extracted.good | "Cluster" >> ClusterIntoEvents(event_index)
        scored = clustered.good | "Score" >> ScoreEvents(event_index, as_of=self._state.as_of)

        dead_letters = (
            parsed.dead_letter,
            normalized.dead_letter,
            deduped.dead_letter,
            classified.dead_letter,
            extracted.dead_letter,
            clustered.dead_letter,
            scored.dead_letter,
        ) | "AllDeadLetters" >> beam.Flatten()
        return {"items": clustered.good, "events": scored.good, "dead_letters": dead_letters}


def run_batch(
    ranges: list[OffsetRange], *, bootstrap: str, settings: Settings, state: BatchState, out_dir: Path
) -> None:
    """Run one bounded micro-batch; its outputs land as NDJSON files in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # flags=[]: otherwise Beam parses the CLI's own sys.argv as pipeline options.
    options = PipelineOptions(flags=[], runner=settings.processor.runner)
    with beam.Pipeline(options=options) as p:
        outputs = (
            p
            | "OffsetRanges" >> beam.Create(ranges)
            | "Process" >> ProcessBatch(bootstrap, settings, state)
        )
        for kind, pcoll in outputs.items():
            (
                pcoll
                | f"{kind}ToJson" >> beam.Map(_to_json_line)
                | f"Write{kind}" >> beam.io.WriteToText(str(out_dir / kind), file_name_suffix=".ndjson",
                                                        shard_name_template="-SSSSS-of-NNNNN")
            )
    (out_dir / "_SUCCESS").write_text(json.dumps({"ranges": len(ranges)}))
