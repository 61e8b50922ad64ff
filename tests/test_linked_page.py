"""A feed entry and the page fetched from its link are one document (issue 11 item 5).

The entry's link goes through a tracking redirect (302) to a page whose canonical URL names
another host, and the entry has only a one-line summary: no URL, canonical or text ties the two.
The page's `linked_from` does, and dedupe makes the two one document ("linked-page"), so the
clustering puts both in one event, whatever order and batches the two records land in; and the
digest reads them as one item (digest.read.combine_linked_pages), so a fact only the page states
stays in it whichever of the two dedupe made the root.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from app.processor import Processor
from connectors.ingest import run_ingest
from digest.build import build_digest
from infra.config import ProcessorSettings, Settings, StoreSettings
from infra.store import Store
from schemas.digest import Digest
from schemas.raw import RawPage, RawPost
from tests.connector_support import envelopes, scripted_server, source, with_sources
from tests.test_cluster_batches import one_partition_topic
from transforms.dedupe import DedupeIndex, dedupe_items
from transforms.normalize import normalize_record

AS_OF = datetime(2026, 4, 16, tzinfo=UTC)
TITLE = "OpenAI releases GPT-9 with a million-token context window"
CANONICAL = "https://mirror.example.net/news/openai-gpt-9"

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire</title><link>{base}/</link><description>wire</description>
<item><title>{title}</title><guid isPermaLink="false">wire-0415-gpt9</guid>
<link>{base}/r/7f3a</link><description>Read more.</description>
<pubDate>Wed, 15 Apr 2026 12:00:00 +0000</pubDate></item>
</channel></rss>"""

# Dated after the entry, as an article page usually is: in (published_at, item_id) order the entry comes first.
PAGE = """<!doctype html><html lang="en"><head><title>{title}</title>
<link rel="canonical" href="{canonical}">
<meta property="article:published_time" content="2026-04-15T12:05:00Z"></head>
<body><article><h1>{title}</h1>
<p>OpenAI on Wednesday released GPT-9, a language model that reads a million tokens of context at once
and answers questions about whole code bases, contracts and books without splitting them first.</p>
<p>The company said GPT-9 is available to ChatGPT Plus subscribers today and through the API next week,
priced at two dollars per million input tokens, with enterprise customers following in May.</p>
<p>Researchers at the lab trained the model on a new cluster and say it halves the error rate on
long-document benchmarks compared with the previous generation.</p>
<p>OpenAI said it now generates $2 billion in revenue every month.</p>
</article></body></html>"""


@pytest.fixture(scope="module")
def ingested(broker: str, tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """What ingest put on the raw topic for the feed above, served on 127.0.0.1: the page and the entry."""
    from infra.config import KafkaSettings
    from infra.kafka import ensure_topics

    tmp = tmp_path_factory.mktemp("linked")
    kafka = KafkaSettings(
        bootstrap=broker,
        raw_topic=f"test.raw.linked.{tmp.name}",
        dlq_topic=f"test.dlq.linked.{tmp.name}",
        alerts_topic=f"test.alerts.linked.{tmp.name}",
    )
    ensure_topics(broker, kafka)
    settings = Settings(
        data_dir=tmp / "data", kafka=kafka, store=StoreSettings(path=tmp / "data" / "radar.duckdb", lock_timeout_s=30)
    )
    responses: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
    with scripted_server(responses) as server:
        base = server.base_url
        responses["/feed.xml"] = [
            (200, {"Content-Type": "application/rss+xml"}, FEED.format(base=base, title=TITLE).encode())
        ]
        responses["/r/7f3a"] = [(302, {"Location": f"{base}/articles/gpt-9?utm_source=wire"}, b"")]
        responses["/articles/gpt-9"] = [
            (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE.format(title=TITLE, canonical=CANONICAL).encode())
        ]
        report = run_ingest(with_sources(settings, [source("wire", "feed", f"{base}/feed.xml")]), arxiv_interval_s=0)
        assert server.hits["/r/7f3a"] == 1 and server.hits["/articles/gpt-9"] == 1
    assert report.total("errors") == 0 and report.total("dead_lettered") == 0
    produced = envelopes(broker, kafka, kafka.raw_topic)
    pages = [e for e in produced if isinstance(e, RawPage)]
    posts = [e for e in produced if isinstance(e, RawPost)]
    assert len(pages) == len(posts) == 1
    # Nothing but the link ties them: the redirect and the canonical both differ from the entry's link.
    assert pages[0].key == CANONICAL and pages[0].fetch.redirects
    assert pages[0].linked_from == posts[0].key and posts[0].url != CANONICAL
    return [pages[0], posts[0]]


def _process(settings: Settings, tmp_path: Path, records: list[Any], name: str, batch: int) -> dict[str, Any]:
    run = one_partition_topic(settings, records, name).model_copy(
        update={
            "store": StoreSettings(path=tmp_path / f"{name}.duckdb", lock_timeout_s=30),
            "processor": ProcessorSettings(batch_max_records=batch),
        }
    )
    with Processor(run, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        report = processor.run_once()
    assert len(report.batches) == (2 if batch == 1 else 1)
    with duckdb.connect(str(run.store.path), read_only=True) as con:
        items = {
            row[0]: row[1:]
            for row in con.execute(
                "SELECT item_id, kind, duplicate_of, duplicate_kind, event_id, record->>'linked_from' FROM items"
            ).fetchall()
        }
        events = con.execute("SELECT event_id, title FROM events").fetchall()
    return {"items": items, "events": events}


# Page first in one batch: dedupe decides in (published_at, item_id) order, not arrival order.
@pytest.mark.parametrize(("order", "batch"), [("page-first", 10), ("entry-first", 10), ("entry-first", 1)])
def test_the_page_is_the_duplicate_of_its_entry(
    ingested: list[Any], settings: Settings, tmp_path: Path, order: str, batch: int
) -> None:
    page, entry = ingested
    records = [page, entry] if order == "page-first" else [entry, page]
    result = _process(settings, tmp_path, records, f"{order}-{batch}", batch)
    page_id = f"page:{page.key}"
    assert set(result["items"]) == {entry.key, page_id}
    assert result["items"][entry.key][:3] == ("post", None, None)
    kind, duplicate_of, duplicate_kind, event_id, linked_from = result["items"][page_id]
    assert (kind, duplicate_of, duplicate_kind, linked_from) == ("page", entry.key, "linked-page", entry.key)
    assert result["items"][entry.key][3] == event_id is not None
    assert [event for event, _ in result["events"]] == [event_id]


def test_a_page_stored_before_its_entry_takes_the_entry_in(
    ingested: list[Any], settings: Settings, tmp_path: Path
) -> None:
    # The page's row is committed before the entry arrives and is not rewritten: the entry joins it.
    page, entry = ingested
    result = _process(settings, tmp_path, [page, entry], "page-then-entry", 1)
    page_id = f"page:{page.key}"
    assert result["items"][page_id][1:3] == (None, None)
    assert result["items"][entry.key][1:3] == (page_id, "linked-page")
    assert result["items"][entry.key][3] == result["items"][page_id][3] is not None
    assert len(result["events"]) == 1


def test_a_link_names_an_item_of_the_same_source_only(ingested: list[Any]) -> None:
    from schemas.common import KafkaCoordinates
    from schemas.raw import ReceivedRaw

    page, entry = ingested

    def item(envelope: Any, offset: int) -> Any:
        return normalize_record(
            ReceivedRaw(
                envelope=envelope, coordinates=KafkaCoordinates(topic="t", partition=0, offset=offset, key=envelope.key)
            )
        )

    # Another source's post under the same key (an unscoped URL key) is not the page's entry.
    other = entry.model_copy(
        update={
            "source": entry.source.model_copy(update={"name": "elsewhere"}),
            "title": "Something else entirely",
            "summary_html": "Unrelated.",
        }
    )
    deduped = {i.item_id: i for i in dedupe_items([item(other, 0), item(page, 1)], DedupeIndex())}
    assert deduped[f"page:{page.key}"].duplicate_of is None
    # The entry itself, in the same batch, is.
    deduped = {i.item_id: i for i in dedupe_items([item(page, 0), item(entry, 1)], DedupeIndex())}
    assert (deduped[f"page:{page.key}"].duplicate_of, deduped[f"page:{page.key}"].duplicate_kind) == (
        entry.key,
        "linked-page",
    )
    assert deduped[entry.key].duplicate_of is None
    # A page dated before its entry comes first in the batch's order: it is the root, the entry joins it.
    late = entry.model_copy(
        update={"published": "Wed, 15 Apr 2026 13:00:00 +0000", "published_at": datetime(2026, 4, 15, 13, tzinfo=UTC)}
    )
    deduped = {i.item_id: i for i in dedupe_items([item(late, 0), item(page, 1)], DedupeIndex())}
    assert deduped[f"page:{page.key}"].duplicate_of is None
    assert (deduped[late.key].duplicate_of, deduped[late.key].duplicate_kind) == (f"page:{page.key}", "linked-page")


def _digest(store_path: Path) -> Digest:
    settings = Settings(data_dir=store_path.parent, store=StoreSettings(path=store_path, lock_timeout_s=30))
    return build_digest(Store(store_path, 30), settings, AS_OF.date(), 7, "en", now=AS_OF, polish=False)


@pytest.mark.parametrize(("order", "batch"), [("entry-first", 10), ("page-first", 1)])
def test_the_digest_keeps_what_only_the_page_says(
    ingested: list[Any], settings: Settings, tmp_path: Path, order: str, batch: int
) -> None:
    # entry-first: the page is the entry's linked-page duplicate; page-first in batches of one: the
    # page's row is stored first and the entry is its duplicate. Either way the digest reads one item
    # with the page's article (its figure, its text), its canonical address and the entry's date.
    page, entry = ingested
    records = [entry, page] if order == "entry-first" else [page, entry]
    result = _process(settings, tmp_path, records, f"digest-{order}", batch)
    page_id = f"page:{page.key}"
    duplicate = page_id if order == "entry-first" else entry.key
    assert {i for i, row in result["items"].items() if row[1] is not None} == {duplicate}
    digest = _digest(tmp_path / f"digest-{order}.duckdb")
    [event] = digest.top_events
    assert "Monthly revenue: $2 billion" in event.key_facts  # stated on the page only
    assert "reads a million tokens of context" in event.what_happened  # the article, not "Read more."
    assert "Read more" not in event.what_happened
    assert "Coverage: 1 related items from 1 independent publishers" in event.key_facts
    [shown] = event.sources
    # The entry's link is a tracking redirect: the page's canonical address is the one shown.
    assert (shown.url, shown.canonical_url) == (CANONICAL, CANONICAL)
    assert shown.published_at == datetime(2026, 4, 15, 12, tzinfo=UTC)  # the entry's, earlier than the page's
    assert (digest.stats.items_in, digest.stats.duplicates, digest.stats.events) == (2, 1, 1)


def test_the_digest_reads_the_same_item_whichever_half_is_the_root(
    ingested: list[Any], settings: Settings, tmp_path: Path
) -> None:
    page, entry = ingested
    digests = [
        _digest(_stored(settings, tmp_path, records, name, batch))
        for records, name, batch in (([entry, page], "entry-root", 10), ([page, entry], "page-root", 1))
    ]
    # The event is named after whichever item founded it; everything the reader sees is the same.
    shown = [d.top_events[0].model_dump(exclude={"id"}) for d in digests]
    assert shown[0] == shown[1]
    assert digests[0].top_events[0].id != digests[1].top_events[0].id


def _stored(settings: Settings, tmp_path: Path, records: list[Any], name: str, batch: int) -> Path:
    _process(settings, tmp_path, records, name, batch)
    return tmp_path / f"{name}.duckdb"


def test_an_entry_summary_that_says_more_leads_the_combined_item() -> None:
    from dataclasses import replace

    from digest.content import labelled_facts, lead_of
    from digest.model import Playbook, SourceItem
    from digest.read import combine_linked_pages

    when = datetime(2026, 4, 15, 12, tzinfo=UTC)
    entry = SourceItem(
        item_id="urn:radar:guid:wire:1",
        event_id="ev-1",
        source_kind="feed",
        tier="media",
        publisher="wire",
        url="https://wire.example/r/1",
        canonical_url="https://wire.example/r/1",
        title=TITLE,
        text="OpenAI released GPT-9 and said it now makes $2 billion in revenue every month.",
        lang="en",
        published_at=when,
        entities={"amounts": [{"text": "$2 billion", "value": 2e9, "unit": "USD"}]},
    )
    page = replace(
        entry,
        item_id=f"page:{CANONICAL}",
        url="https://wire.example/articles/gpt-9?utm_source=wire",
        canonical_url=CANONICAL,
        text="OpenAI on Wednesday released GPT-9, a model that reads a million tokens of context at once.",
        published_at=datetime(2026, 4, 15, 12, 5, tzinfo=UTC),
        is_page=True,
        entities={"organisations": ["OpenAI"], "products": ["GPT-9"]},
    )
    book = Playbook.load("en")
    # Either half may be the one dedupe marked: the reader sees the same item.
    read = [
        combine_linked_pages([entry, replace(page, duplicate_of=entry.item_id, duplicate_kind="linked-page")]),
        combine_linked_pages([replace(entry, duplicate_of=page.item_id, duplicate_kind="linked-page"), page]),
    ]
    assert read[0] == read[1]
    [item] = read[0]
    assert (item.item_id, item.duplicate_of, item.published_at) == (entry.item_id, None, when)
    assert (item.url, item.canonical_url) == (CANONICAL, CANONICAL)
    # The summary states the revenue, the article the context length: both stay, the summary leads.
    assert lead_of(item).startswith("OpenAI released GPT-9 and said")
    assert "a million tokens of context" in item.text
    assert "Monthly revenue: $2 billion" in labelled_facts([item], book)
    assert (item.entities["products"], len(item.entities["amounts"])) == (["GPT-9"], 1)
