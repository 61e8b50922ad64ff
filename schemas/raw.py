"""What connectors put on `radar.raw.v1`: one envelope per post or page, original body kept."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.common import Contract, KafkaCoordinates, SourceRef

__all__ = ["Fetch", "PaperMeta", "RawPage", "RawPost", "ReceivedRaw", "ReferencedPost", "SocialMeta"]


class Fetch(Contract):
    """Provenance of one HTTP (or file) fetch."""

    requested_url: str
    final_url: str
    status: int = Field(ge=0, le=999)
    fetched_at: AwareDatetime
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    encoding: str | None = Field(None, description="charset used to decode the body, and how it was chosen")
    redirects: tuple[str, ...] = ()


class ReferencedPost(Contract):
    type: Literal["retweeted", "quoted", "replied_to"]
    id: str


class SocialMeta(Contract):
    """X API v2 fields the pipeline needs beyond the text."""

    author_id: str
    handle: str
    display_name: str | None = None
    verified: bool | None = None
    conversation_id: str | None = None
    referenced: tuple[ReferencedPost, ...] = ()
    expanded_urls: tuple[str, ...] = ()
    retweets: int = Field(0, ge=0)
    replies: int = Field(0, ge=0)
    likes: int = Field(0, ge=0)
    quotes: int = Field(0, ge=0)
    bookmarks: int = Field(0, ge=0)
    impressions: int = Field(0, ge=0)


class PaperMeta(Contract):
    """arXiv API fields."""

    arxiv_id: str = Field(description="id without version, e.g. 2604.01234")
    version: int = Field(1, ge=1)
    primary_category: str | None = None
    categories: tuple[str, ...] = ()
    abs_url: str | None = None
    pdf_url: str | None = None


class RawPost(Contract):
    """One entry of a feed, one X post, one arXiv paper, as fetched."""

    schema_: Literal["raw.post"] = Field("raw.post", alias="schema")
    version: Literal[1] = 1
    key: str = Field(min_length=1, description="stable id: native id or canonical URL")
    source: SourceRef
    fetch: Fetch
    native_id: str | None = None
    url: str | None = Field(None, description="link of the entry as published")
    title: str | None = None
    summary_html: str | None = None
    content_html: str | None = None
    text: str | None = Field(None, description="plain text of a social post")
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    lang: str | None = None
    published: str | None = Field(None, description="date as written by the source, original offset kept")
    updated: str | None = None
    published_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    social: SocialMeta | None = None
    paper: PaperMeta | None = None
    unsafe_links: tuple[str, ...] = Field((), description="links found but never fetched (unsafe address)")
    body: str = Field("", description="the original entry payload (XML fragment or JSON) as text")


class RawPage(Contract):
    """One fetched HTML page (an article a feed entry or post points at, or an html source)."""

    schema_: Literal["raw.page"] = Field("raw.page", alias="schema")
    version: Literal[1] = 1
    key: str = Field(min_length=1, description="canonical URL when known, else final URL")
    source: SourceRef
    fetch: Fetch
    linked_from: str | None = Field(None, description="key of the raw post whose link led here")
    canonical_url: str | None = None
    og_url: str | None = None
    # Read from `html` by normalize since ingest stopped filling them; kept so older raw.page/1
    # records stay valid and replay as they did.
    published_time: str | None = Field(None, description="article:published_time as written (older records)")
    title: str | None = Field(None, description="the page title (older records)")
    lang_hints: tuple[str, ...] = ()
    html: str = Field(description="the decoded page")


class ReceivedRaw(Contract):
    """A raw envelope as the pipeline received it: the input of `transforms.normalize`.

    Travels only inside the Beam pipeline, so it carries no schema/version of its own.
    """

    envelope: RawPost | RawPage = Field(discriminator="schema_")
    coordinates: KafkaCoordinates
