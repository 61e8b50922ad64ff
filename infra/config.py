"""The one configuration model: a TOML file plus `RADAR_<SECTION>__<KEY>` env vars.

Precedence (highest first): explicit overrides, environment, TOML file, defaults.
The keys of DESIGN.md §6 are a contract read by outside checks; everything else
has a default so a file holding only those keys works.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from infra.redact import register_secret
from schemas.common import Category, Verification

__all__ = [
    "AlertSettings",
    "ConfigError",
    "DigestSettings",
    "FetchSettings",
    "KafkaSettings",
    "LlmSettings",
    "OpsSettings",
    "ProcessorSettings",
    "Settings",
    "SourceConfig",
    "StoreSettings",
    "WebhookConfig",
    "XSettings",
    "load_settings",
]

SourceKind = Literal["feed", "html", "arxiv", "x", "jsonl"]
SourceTier = Literal["official", "media", "research", "social", "community"]
# A source's group when its table names none: the cadence its kind needs (prefect.yaml polls X
# searches every 5 minutes, feeds and pages every 15, arXiv hourly).
DEFAULT_GROUPS: dict[str, str] = {"x": "x", "arxiv": "arxiv", "feed": "feeds", "html": "feeds", "jsonl": "feeds"}


class _Section(BaseModel):
    # A typo in a key must fail loudly, not be silently ignored.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class KafkaSettings(_Section):
    bootstrap: str = "embedded"
    embedded_port: int = Field(0, ge=0, le=65535, description="0 = pick a free port")
    raw_topic: str = "radar.raw.v1"
    dlq_topic: str = "radar.dlq.v1"
    alerts_topic: str = "radar.alerts.v1"
    raw_partitions: int = Field(3, ge=1, le=1024)
    dlq_partitions: int = Field(1, ge=1, le=1024)
    alerts_partitions: int = Field(1, ge=1, le=1024)
    replication_factor: int = Field(1, ge=1, le=16)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    # TLS (security_protocol SSL or SASL_SSL): the CA that signed the brokers' certificates when it
    # is not in the system store, and a client certificate and key for clusters that require one.
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True
    request_timeout_ms: int = Field(30_000, ge=1_000)
    # How long ingest waits for the broker to acknowledge a source's envelopes before it gives up
    # (cursor unmoved) with one line instead of hanging on a dead broker.
    ack_timeout_s: float = Field(60.0, gt=0, le=3600)

    @field_validator("sasl_password")
    @classmethod
    def _mask_password(cls, value: SecretStr | None) -> SecretStr | None:
        register_secret(value)
        return value

    @field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        # Said at start-up, naming the key, rather than as a handshake failure minutes later.
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _tls_keys_need_tls(self) -> KafkaSettings:
        uses_tls = self.security_protocol in ("SSL", "SASL_SSL")
        given = [k for k in ("ssl_cafile", "ssl_certfile", "ssl_keyfile") if getattr(self, k) is not None]
        if given and not uses_tls:
            raise ValueError(
                f"{', '.join(given)} set but security_protocol is {self.security_protocol} (use SSL or SASL_SSL)"
            )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together (a client certificate and its key)")
        return self

    @field_validator("bootstrap")
    @classmethod
    def _bootstrap_shape(cls, value: str) -> str:
        value = value.strip()
        if value == "embedded":
            return value
        for hostport in value.split(","):
            host, sep, port = hostport.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected 'embedded' or 'host:port[,host:port]', got {hostport!r}")
        return value

    @property
    def embedded(self) -> bool:
        return self.bootstrap == "embedded"


class StoreSettings(_Section):
    path: Path = Path("data/radar.duckdb")
    lock_timeout_s: float = Field(60.0, gt=0, description="how long to wait for the DuckDB file lock")


class DigestSettings(_Section):
    timezone: str = "Asia/Shanghai"
    language: Literal["zh", "en"] = "zh"
    lookback_days: int = Field(14, ge=0, le=365)
    window_days: int = Field(7, ge=1, le=31)
    top_events: int = Field(5, ge=1, le=5)
    out_dir: Path = Path("out")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r}") from exc
        return value


class FetchSettings(_Section):
    timeout_s: float = Field(15.0, gt=0, le=300)
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="cap on raw response bytes")
    max_decompressed_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(5, ge=0, le=20)
    retries: int = Field(3, ge=0, le=10)
    backoff_s: float = Field(1.0, ge=0)
    per_host_interval_s: float = Field(1.0, ge=0, description="minimum gap between requests to one host")
    per_host_concurrency: int = Field(1, ge=1, le=16)
    robots_cache_s: int = Field(24 * 3600, ge=0, le=24 * 3600)
    max_rate_limit_wait_s: float = Field(900.0, ge=0)
    user_agent: str = "frontier-radar/0.1 (+https://github.com/frontier-radar)"
    follow_links: bool = True
    arxiv_interval_s: float = Field(3.0, ge=0, description="arXiv API terms: at most one request per 3 s")
    # Sources run at once by `radar ingest` (threads). Fetching is waiting on the network and on
    # per-host intervals, not CPU, so this is sized by latency, not by the 2 cores (README "Sizing").
    max_concurrency: int = Field(16, ge=1, le=512, description="sources fetched at once by one ingest run")


class ProcessorSettings(_Section):
    batch_max_records: int = Field(10_000, ge=1)
    poll_interval_s: float = Field(1.0, gt=0)
    runner: str = "FnApiRunner"
    # Further Beam pipeline options as command-line flags: a Flink or Dataflow runner's settings,
    # or FnApiRunner's "--direct_num_workers=2", "--direct_running_mode=multi_processing".
    pipeline_options: list[str] = Field(default_factory=list)
    near_duplicate_threshold: float = Field(0.8, gt=0, le=1)
    event_window_days: int = Field(7, ge=1)
    dedupe_horizon_days: int = Field(30, ge=1)

    @field_validator("pipeline_options")
    @classmethod
    def _flags(cls, value: list[str]) -> list[str]:
        # Beam drops what it cannot parse with only a log line; at least a value without its dashes
        # (a common slip in TOML lists) is caught here.
        for flag in value:
            if not flag.startswith("--") or len(flag) < 3:
                raise ValueError(f"{flag!r} is not a pipeline flag (expected --name=value)")
        return value


AlertLevel = Literal["high", "critical"]
WebhookFormat = Literal["standard", "slack"]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_quiet_hours(value: str) -> tuple[time, time]:
    """'22:00-07:00' -> (22:00, 07:00); a clear error for anything else."""
    parts = [p.strip() for p in value.split("-")]
    matches = [_CLOCK.match(p) for p in parts]
    if len(parts) != 2 or not all(matches):
        raise ValueError(f'quiet_hours {value!r} is not "HH:MM-HH:MM" (24-hour clock, e.g. "22:00-07:00")')
    start, end = (time(int(m.group(1)), int(m.group(2))) for m in matches if m)
    return start, end


def organisation_slug(name: str) -> str:
    # The slug alerts carry in `organisations` (lowercase letters and digits only), so a route
    # written "Hugging Face" matches an alert naming "huggingface".
    return re.sub(r"[\W_]+", "", name.casefold())


class WebhookConfig(_Section):
    """One `[[alerts.webhooks]]` table (DESIGN.md §6 "Alerts to people")."""

    url: str
    # The delivery log's key: renaming it (or, without a name, changing the URL) starts a fresh log,
    # so alerts already delivered to the old key are not re-sent and later ones go to the new one.
    name: str | None = Field(None, min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    secret_env: str | None = Field(None, description="env var holding the Standard Webhooks secret (whsec_...)")
    format: WebhookFormat = "standard"
    min_level: AlertLevel = "high"
    categories: list[Category] | None = Field(None, description="only alerts of these categories")
    # Strict like a source's: only an explicit TOML true opens loopback/private addresses.
    local: StrictBool = Field(False, description="allow a loopback or private address (this origin only)")
    timeout_s: float = Field(10.0, gt=0, le=120)
    # 20 attempts, the delay doubling from backoff_s up to max_backoff_s, each wait jittered to half to all
    # of it: 55 min to 1 h 45 min of retries with the defaults, so a receiver down for a deploy or an
    # incident gets its alerts; 8 gave up after 1-2 minutes.
    max_attempts: int = Field(20, ge=1, le=50)
    backoff_s: float = Field(1.0, ge=0, description="first retry delay; doubles per attempt, with jitter")
    max_backoff_s: float = Field(600.0, ge=0)
    # Routes: every filter given must pass (None: no filter). Lists match any of their entries.
    organisations: list[str] | None = Field(
        None, description="only alerts naming one of these organisations (as slugs: 'Hugging Face' = 'huggingface')"
    )
    verification: list[Verification] | None = Field(None, description="only alerts of these verification statuses")
    tiers: list[SourceTier] | None = Field(None, description="only alerts with a source of one of these tiers")
    min_score: float | None = Field(None, ge=0, le=100, description="only alerts whose signal score reaches this")
    # Quiet hours: deliveries due in the window are held (recorded, not lost) and go out as ONE
    # summary delivery once it ends. "22:00-07:00" crosses midnight; wall-clock times in `timezone`.
    quiet_hours: str | None = Field(None, description='"HH:MM-HH:MM" in `timezone`, e.g. "22:00-07:00"')
    timezone: str | None = Field(None, description='IANA zone of quiet_hours, e.g. "Europe/Berlin"')

    @field_validator("organisations")
    @classmethod
    def _organisation_slugs(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        slugs = [organisation_slug(v) for v in value]
        if not all(slugs):
            raise ValueError("an organisation needs at least one letter or digit")
        return slugs

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str | None) -> str | None:
        if value is not None:
            start, end = parse_quiet_hours(value)
            if start == end:
                raise ValueError(f"quiet_hours {value!r} starts and ends at the same time (an empty window)")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f'unknown time zone {value!r} (an IANA name such as "Europe/Berlin")') from None
        return value

    @model_validator(mode="after")
    def _quiet_needs_zone(self) -> WebhookConfig:
        # A silent UTC default would shift someone's night by hours: the zone must be said.
        if self.quiet_hours is not None and self.timezone is None:
            raise ValueError('quiet_hours needs timezone (an IANA name such as "Europe/Berlin")')
        return self

    @property
    def quiet(self) -> tuple[time, time, str] | None:
        """(start, end, zone) of the quiet hours, or None."""
        if self.quiet_hours is None or self.timezone is None:
            return None
        start, end = parse_quiet_hours(self.quiet_hours)
        return start, end, self.timezone

    def quiet_window(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The quiet window holding `at`, as (start, end) in UTC, or None.

        Wall-clock times in the webhook's zone, so a window keeps its local hours across DST changes
        (that night's window is an hour shorter or longer); "22:00-07:00" ends the next morning.
        """
        quiet = self.quiet
        if quiet is None:
            return None
        start, end, zone = quiet
        tz = ZoneInfo(zone)
        local = at.astimezone(tz)
        for day in (local.date() - timedelta(days=1), local.date()):
            begins = datetime.combine(day, start, tz).astimezone(UTC)
            ends = datetime.combine(day + timedelta(days=1) if end <= start else day, end, tz).astimezone(UTC)
            if begins <= at.astimezone(UTC) < ends:
                return begins, ends
        return None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from infra.urlsafety import FetchError, check_url_syntax

        try:
            check_url_syntax(value)
        except FetchError as exc:
            # The reason only: a Slack incoming-webhook URL is itself a credential.
            raise ValueError(f"not a usable http(s) URL ({exc.reason}: {exc.detail})") from None
        return value

    @field_validator("secret_env")
    @classmethod
    def _mask_secret(cls, value: str | None) -> str | None:
        if value:
            register_secret(os.environ.get(value))
        return value

    @property
    def key(self) -> str:
        import hashlib

        return self.name or f"{self.format}-{hashlib.sha256(self.url.encode()).hexdigest()[:12]}"


class AlertSettings(_Section):
    min_score: float = Field(70.0, ge=0, le=100)
    # None: every event may alert. A first run over a new feed's back catalogue, or a replay of an old
    # window, otherwise raises "near-real-time" alerts for news weeks old (age costs at most the
    # recency component's 10 points); the digest is unaffected.
    max_event_age_hours: float | None = Field(
        None, gt=0, description="raise no alert for an event whose latest item is older than this (None: any age)"
    )
    # None: min_score + 15 (capped at 100), the rule alerts had before this setting existed.
    critical_score: float | None = Field(None, ge=0, le=100)
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    drain_timeout_s: float = Field(
        30.0, ge=0, description="how long a stopping processor keeps delivering pending webhooks"
    )
    # One POST in flight per webhook, up to this many webhooks at once: a hanging target costs
    # only its own timeout, never the others' deliveries.
    delivery_concurrency: int = Field(8, ge=1, le=64, description="webhooks posted to at the same time")

    @field_validator("webhooks", mode="before")
    @classmethod
    def _plain_urls(cls, value: Any) -> Any:
        # Before [[alerts.webhooks]] tables, `webhooks` was a list of URL strings: keep those configs loading.
        if isinstance(value, list | tuple):
            return [{"url": entry} if isinstance(entry, str) else entry for entry in value]
        return value

    @model_validator(mode="after")
    def _levels_and_keys(self) -> AlertSettings:
        if self.critical_score is not None and self.critical_score < self.min_score:
            raise ValueError("critical_score must be >= min_score")
        keys = [w.key for w in self.webhooks]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"webhooks: duplicate webhook {', '.join(duplicates)} (give each a distinct name)")
        return self

    @property
    def critical_threshold(self) -> float:
        return self.critical_score if self.critical_score is not None else min(100.0, self.min_score + 15)


class XSettings(_Section):
    """`[x]`: the X API v2 connector at scale."""

    # X API v2 query length limits (docs.x.com, "Search Posts" > query length): recent search
    # 512 characters on self-serve access (Basic, Pro), full-archive 1,024, Enterprise 4,096.
    # Packed `from:` queries are built to fit this.
    max_query_length: int = Field(512, ge=64, le=4096, description="longest search query the API accepts")


class LlmSettings(_Section):
    endpoint: str | None = None
    model: str = "gpt-4o-mini"
    api_key: SecretStr | None = None
    timeout_s: float = Field(30.0, gt=0)

    @field_validator("api_key")
    @classmethod
    def _mask_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        register_secret(value)
        return value


_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class OpsSettings(_Section):
    """`[ops]`: the local Prefect server that `radar ops up` (make ops-up) starts."""

    # The Prefect server's database: SQLite in <data_dir>/prefect unless this names an env var
    # holding a Postgres URL (postgresql+asyncpg://user:password@host:5432/db). A URL carries its
    # password, so the file names the variable, never the URL (as `secret_env` does for webhooks).
    prefect_database_url_env: str | None = Field(
        None, pattern=_ENV_NAME, description="env var holding the Prefect server's postgresql+asyncpg:// URL"
    )

    @field_validator("prefect_database_url_env")
    @classmethod
    def _mask_url(cls, value: str | None) -> str | None:
        if value:
            register_secret(os.environ.get(value))
        return value

    def prefect_database_url(self) -> str | None:
        """The Postgres URL from the named env var; None: SQLite. ConfigError naming the key when unusable."""
        name = self.prefect_database_url_env
        if name is None:
            return None
        value = os.environ.get(name, "").strip()
        if not value:
            raise ConfigError(f"ops.prefect_database_url_env: env var {name} is not set (or empty)")
        if not value.startswith("postgresql+asyncpg://"):
            # The scheme only: the rest may hold a password.
            raise ConfigError(
                f"ops.prefect_database_url_env: {name} must hold a postgresql+asyncpg:// URL"
                f" (got scheme {value.partition('://')[0]!r})"
            )
        return value


class SourceConfig(_Section):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    kind: SourceKind
    url: str
    tier: SourceTier
    publisher: str | None = None
    organisation: str | None = None
    language: str | None = None
    token_env: str | None = None
    # Strict: `local = "yes"` or `local = 1` must fail, not quietly open this machine to the source.
    local: StrictBool = Field(False, description="explicitly allow file://, private and loopback addresses")
    enabled: bool = True
    max_pages: int = Field(20, ge=1, le=1000)
    page_size: int = Field(100, ge=1, le=2000)
    # Which scheduled ingest polls this source (`radar ingest --group`, the ingest-x/-arxiv
    # deployments). Absent: derived from the kind (DEFAULT_GROUPS), so old configs fall into the
    # cadence their kind needs without a new key.
    group: str = Field("", pattern=r"^$|^[A-Za-z0-9][A-Za-z0-9._-]*$")
    # kind = "x" only: accounts watched through the recent-search endpoint in `url`. The connector
    # packs them into `from:a OR from:b ...` queries within `[x] max_query_length`; `query_filter`
    # (e.g. "-is:retweet") is ANDed to every packed query.
    accounts: list[str] = Field(default_factory=list)
    query_filter: str | None = Field(None, min_length=1, max_length=400)
    # kind = "feed" only: entry categories whose entries others wrote (a platform blog's community
    # or partner articles): such an entry and its page are tier "community", so they never speak for
    # the source's organisation (an NVIDIA article on the Hugging Face blog is not Hugging Face's word).
    guest_categories: list[str] = Field(default_factory=list)

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "file://")):
            raise ValueError("must start with http://, https:// or file://")
        return value

    @field_validator("accounts")
    @classmethod
    def _handles(cls, value: list[str]) -> list[str]:
        # X usernames: 1-15 of [A-Za-z0-9_]; anything else would inject query operators.
        # Case-insensitive on X, so "OpenAI" and "openai" are one account (first spelling kept).
        kept: dict[str, str] = {}
        for raw in value:
            handle = raw.strip().removeprefix("@")
            if not handle or len(handle) > 15 or not handle.replace("_", "").isalnum() or not handle.isascii():
                raise ValueError(f"{raw!r} is not an X username (1-15 letters, digits or _)")
            kept.setdefault(handle.lower(), handle)
        return list(kept.values())

    @model_validator(mode="after")
    def _group_and_accounts(self) -> SourceConfig:
        if not self.group:
            # object.__setattr__: validate_assignment would re-run this validator.
            object.__setattr__(self, "group", DEFAULT_GROUPS[self.kind])
        if (self.accounts or self.query_filter) and self.kind != "x":
            raise ValueError('accounts and query_filter are for kind = "x" sources only')
        if self.guest_categories and self.kind != "feed":
            raise ValueError('guest_categories is for kind = "feed" sources only')
        if self.accounts and "query=" in self.url.partition("?")[2]:
            raise ValueError("with accounts, the url is the search endpoint without query= (terms go in query_filter)")
        return self

    @field_validator("token_env")
    @classmethod
    def _mask_token(cls, value: str | None) -> str | None:
        if value:
            register_secret(os.environ.get(value))
        return value

    @property
    def display_publisher(self) -> str:
        return self.publisher or self.name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RADAR_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Path("data")
    kafka: KafkaSettings = KafkaSettings()
    store: StoreSettings = StoreSettings()
    digest: DigestSettings = DigestSettings()
    fetch: FetchSettings = FetchSettings()
    processor: ProcessorSettings = ProcessorSettings()
    alerts: AlertSettings = AlertSettings()
    llm: LlmSettings = LlmSettings()
    x: XSettings = XSettings()
    ops: OpsSettings = OpsSettings()
    sources: list[SourceConfig] = Field(default_factory=list)

    # Not a setting: where the TOML came from, for messages and relative paths.
    config_file: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _unique_source_names(self) -> Settings:
        seen: set[str] = set()
        for source in self.sources:
            if source.name in seen:
                raise ValueError(f"duplicate source name {source.name!r}")
            seen.add(source.name)
        # Webhook signing secrets, once webhooks name an env var (DESIGN.md §6 `secret_env`).
        for webhook in self.alerts.webhooks:
            secret_env = getattr(webhook, "secret_env", None)
            if isinstance(secret_env, str) and secret_env:
                register_secret(os.environ.get(secret_env))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _TOML_FILE_FOR_LOAD.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            # Relative paths of the file and the path defaults mean "beside the config file",
            # whatever the current directory (a Prefect worker's is a temporary one); paths
            # from the environment or from code keep meaning the current directory.
            base = Path(os.path.abspath(toml_file)).parent
            sources.append(_AnchoredTomlSource(settings_cls, toml_file=toml_file))
            sources.append(_AnchoredDefaults(settings_cls, base))
        return tuple(sources)

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError(f"no source named {name!r} (known: {known})")

    def redacted(self) -> dict[str, Any]:
        """The settings as plain data with every secret masked, for `radar config show`."""
        data = self.model_dump(mode="json")
        # Incoming-webhook URLs (Slack, Discord, Teams) carry their token in the path: show the origin only.
        for webhook in data.get("alerts", {}).get("webhooks", []):
            scheme, _, rest = webhook["url"].partition("://")
            webhook["url"] = f"{scheme}://{rest.split('/', 1)[0]}/***"
        return data


# pydantic-settings builds sources from the class, so the file path travels via this slot.
_TOML_FILE_FOR_LOAD: dict[str, Path | None] = {"path": None}


# --- relative paths in a config file --------------------------------------------------------

PathTree = dict[str, "PathTree | None"]


def _is_path_annotation(annotation: Any) -> bool:
    if annotation is Path:
        return True
    return get_origin(annotation) in (Union, UnionType) and Path in get_args(annotation)


def _path_fields(model: type[BaseModel]) -> PathTree:
    """Where the Path-typed settings sit: {"data_dir": None, "store": {"path": None}, ...}.

    Derived from the models, so a path key added later follows the same rule unasked.
    """
    tree: PathTree = {}
    for name, field in model.model_fields.items():
        if field.exclude:  # config_file: where the settings came from, not a setting
            continue
        annotation = field.annotation
        if _is_path_annotation(annotation):
            tree[name] = None
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sub = _path_fields(annotation)
            if sub:
                tree[name] = sub
    return tree


def _anchor(value: Any, base: Path) -> Any:
    if isinstance(value, str | Path) and str(value):
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else Path(os.path.normpath(base / path)))
    return value


def _anchor_tree(data: dict[str, Any], tree: PathTree, base: Path) -> dict[str, Any]:
    out = dict(data)
    for name, sub in tree.items():
        if name not in out:
            continue
        if sub is None:
            out[name] = _anchor(out[name], base)
        elif isinstance(out[name], dict):
            out[name] = _anchor_tree(out[name], sub, base)
    return out


class _AnchoredTomlSource(TomlConfigSettingsSource):
    """The TOML file, with its relative paths made absolute against the file's directory."""

    def __init__(self, settings_cls: type[BaseSettings], toml_file: Path) -> None:
        # The base class reads the file in its __init__, before it sets self.settings_cls.
        self._path_tree = _path_fields(settings_cls)
        super().__init__(settings_cls, toml_file=toml_file)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        data = super()._read_file(file_path)
        base = Path(os.path.abspath(str(file_path))).parent
        return _anchor_tree(data, self._path_tree, base)


class _AnchoredDefaults(PydanticBaseSettingsSource):
    """The defaults of path settings, beside the config file (lowest priority of all sources)."""

    def __init__(self, settings_cls: type[BaseSettings], base: Path) -> None:
        super().__init__(settings_cls)
        self.base = base

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole dict

    def __call__(self) -> dict[str, Any]:
        return self._defaults(self.settings_cls, _path_fields(self.settings_cls))

    def _defaults(self, model: type[BaseModel], tree: PathTree) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, sub in tree.items():
            field = model.model_fields[name]
            if sub is None:
                if isinstance(field.default, Path):
                    out[name] = _anchor(field.default, self.base)
            else:
                nested = self._defaults(field.annotation, sub)  # type: ignore[arg-type]
                if nested:
                    out[name] = nested
        return out


class ConfigError(Exception):
    """A user mistake in configuration: reported as one line, never with a traceback."""


def _format_validation_error(exc: ValidationError, origin: str) -> str:
    # Never include `input`: pydantic echoes offending values, which may be secrets
    # (pydantic/pydantic-settings#256). Key path and message are enough to fix it.
    parts = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        # A key that came from the environment is looked for in the TOML file in vain: name its variable.
        variable = "RADAR_" + "__".join(str(p) for p in err["loc"]).upper()
        if len(err["loc"]) > 0 and any(name.upper() == variable for name in os.environ):
            msg += f" (set by the environment variable {variable})"
        parts.append(f"{loc}: {msg}")
    return f"invalid configuration ({origin}): " + "; ".join(parts)


def load_settings(config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Load settings from `config_file` (or $RADAR_CONFIG) and the environment.

    Raises ConfigError with one line naming the offending key(s).
    """
    path_str = str(config_file) if config_file is not None else os.environ.get("RADAR_CONFIG")
    path = Path(path_str) if path_str else None
    if path is not None:
        if path.is_dir():
            raise ConfigError(f"config file {path} is a directory: name the TOML file (e.g. {path / 'radar.toml'})")
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        import tomllib

        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    origin = f"{path} + environment" if path else "environment"
    # RADAR_CONFIG names the file; it is not a setting, so hide it from the env source.
    saved = os.environ.pop("RADAR_CONFIG", None)
    _TOML_FILE_FOR_LOAD["path"] = path
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, origin)) from None
    except (ValueError, TypeError) as exc:
        # pydantic-settings raises SettingsError (a ValueError) for unparsable env JSON;
        # its message names the field but not the value.
        raise ConfigError(f"invalid configuration ({origin}): {str(exc).splitlines()[0]}") from None
    finally:
        _TOML_FILE_FOR_LOAD["path"] = None
        if saved is not None:
            os.environ["RADAR_CONFIG"] = saved
    settings.config_file = path
    return settings
