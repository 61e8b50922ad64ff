"""Routes, quiet hours, corrections and side-by-side delivery, against real receivers on 127.0.0.1
and a real DuckDB file. Time of day comes from the dispatcher's clock and the alerts' created_at,
so quiet windows are tested at any hour the suite runs."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pytest

from app.alerts import SourceView, build_alerts, correction_alert_id, record_alerts, routes_to
from infra.config import AlertSettings, Settings, WebhookConfig
from infra.store import Store
from infra.webhooks import WebhookDispatcher, list_deliveries, load_secret, verify
from schemas.alert import Alert, AlertSource, AlertSummary
from schemas.event import Event
from tests.webhook_support import HANG, receiver

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
SECRET_ENV = "RADAR_TEST_WEBHOOK_SECRET_R"
BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = datetime(2026, 4, 20, 23, 0, tzinfo=BERLIN)  # inside 22:00-07:00
MORNING = datetime(2026, 4, 21, 7, 5, tzinfo=BERLIN)  # just after it ended


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


def _hook(url: str, **extra: object) -> WebhookConfig:
    fields: dict[str, object] = {
        "url": url,
        "secret_env": SECRET_ENV,
        "local": True,
        "timeout_s": 5,
        "backoff_s": 0.01,
        "max_backoff_s": 0.05,
    }
    fields.update(extra)
    return WebhookConfig(**fields)  # type: ignore[arg-type]


def _with_hooks(settings: Settings, *hooks: WebhookConfig) -> Settings:
    return settings.model_copy(update={"alerts": AlertSettings(webhooks=list(hooks))})


def _alert(
    i: int,
    *,
    level: str = "high",
    created: datetime = NIGHT,
    verification: str = "verified-by-official",
    organisations: tuple[str, ...] = ("openai",),
    tier: str = "official",
    score: float = 75.0,
) -> Alert:
    return Alert(
        alert_id=f"ev-{i}:{level}",
        event_id=f"ev-{i}",
        level=level,
        title=f"Model {i} ships",
        category="product",
        signal_score=score,
        verification=verification,
        created_at=created,
        url=f"https://example.com/{i}",
        organisations=organisations,
        sources=(AlertSource(publisher="Pub", tier=tier, url=f"https://example.com/{i}"),),
    )


def _record(settings: Settings, alerts: list[Alert]) -> int:
    with Store(settings.store.path).write() as con:
        for a in alerts:
            con.execute(
                "INSERT INTO alerts_sent (alert_id, event_id, level, signal_score) VALUES (?, ?, ?, ?)",
                [a.alert_id, a.event_id, a.level, a.signal_score],
            )
        return record_alerts(con, alerts, settings.alerts)


def _statuses(settings: Settings) -> dict[tuple[str, str], str]:
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        rows = con.execute("SELECT webhook, alert_id, status FROM webhook_deliveries").fetchall()
    return {(w, a): s for w, a, s in rows}


# --------------------------------------------------------------------------- routes


def test_routes_by_organisation_verification_tier_and_score() -> None:
    hook = _hook(
        "http://127.0.0.1:9/x",
        organisations=["OpenAI", "Hugging Face"],
        verification=["verified-by-official", "corroborated"],
        tiers=["official", "research"],
        min_score=70,
    )
    assert hook.organisations == ["openai", "huggingface"]
    assert routes_to(hook, _alert(1))
    assert routes_to(hook, _alert(1, organisations=("huggingface", "meta")))
    assert not routes_to(hook, _alert(1, organisations=("meta",)))
    assert not routes_to(hook, _alert(1, organisations=()))
    assert not routes_to(hook, _alert(1, verification="unverified"))
    assert not routes_to(hook, _alert(1, tier="social"))
    assert not routes_to(hook, _alert(1, score=69.5))
    assert routes_to(_hook("http://127.0.0.1:9/y"), _alert(1, verification="unverified", tier="social", score=1))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"quiet_hours": "22:00-07:00"}, "quiet_hours needs timezone"),
        ({"quiet_hours": "10pm-7am", "timezone": "Europe/Berlin"}, 'is not "HH:MM-HH:MM"'),
        ({"quiet_hours": "24:00-07:00", "timezone": "Europe/Berlin"}, 'is not "HH:MM-HH:MM"'),
        ({"quiet_hours": "07:00-07:00", "timezone": "Europe/Berlin"}, "an empty window"),
        ({"quiet_hours": "22:00-07:00", "timezone": "Berlin"}, "unknown time zone 'Berlin'"),
        ({"verification": ["maybe"]}, "verification"),
        ({"tiers": ["blog"]}, "tiers"),
        ({"organisations": ["--"]}, "at least one letter or digit"),
    ],
)
def test_bad_routes_and_quiet_hours_say_why(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=None) as failed:
        WebhookConfig(url="https://hooks.example.com/x", **fields)  # type: ignore[arg-type]
    assert message in str(failed.value)


def test_quiet_windows_cross_midnight_in_the_webhooks_zone() -> None:
    hook = _hook("http://127.0.0.1:9/x", quiet_hours="22:00-07:00", timezone="Europe/Berlin")
    start, end = hook.quiet_window(NIGHT) or (None, None)
    assert (start, end) == (datetime(2026, 4, 20, 20, 0, tzinfo=UTC), datetime(2026, 4, 21, 5, 0, tzinfo=UTC))
    assert hook.quiet_window(datetime(2026, 4, 21, 6, 59, tzinfo=BERLIN)) == (start, end)  # same night
    assert hook.quiet_window(MORNING) is None
    assert hook.quiet_window(datetime(2026, 4, 20, 21, 59, tzinfo=BERLIN)) is None
    # A daytime window in another zone; and DST: the night of 28-29 March 2026 is an hour shorter.
    lunch = _hook("http://127.0.0.1:9/x", quiet_hours="12:00-13:30", timezone="Asia/Shanghai")
    assert lunch.quiet_window(datetime(2026, 4, 20, 4, 30, tzinfo=UTC)) is not None
    short = hook.quiet_window(datetime(2026, 3, 29, 1, 0, tzinfo=BERLIN))
    assert short is not None and short[1] - short[0] == timedelta(hours=8)


# --------------------------------------------------------------------------- quiet hours


class _Clock:
    """A wall clock set to `at` that then runs at real speed (retry backoffs must elapse)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    @property
    def at(self) -> datetime:
        return self._at

    @at.setter
    def at(self, value: datetime) -> None:
        self._at, self._set = value, time.monotonic()

    def __call__(self) -> datetime:
        return (self._at + timedelta(seconds=time.monotonic() - self._set)).astimezone(UTC)


def test_quiet_hours_hold_alerts_then_one_signed_summary_exactly_once(settings: Settings) -> None:
    with receiver() as quiet_r, receiver() as loud_r:
        settings = _with_hooks(
            settings,
            _hook(quiet_r.url, name="night", quiet_hours="22:00-07:00", timezone="Europe/Berlin"),
            _hook(loud_r.url, name="always"),
        )
        night = [_alert(i, created=NIGHT + timedelta(minutes=i)) for i in range(3)]
        assert _record(settings, night) == 6
        assert _statuses(settings)[("night", "ev-0:high")] == "held"
        clock = _Clock(NIGHT + timedelta(minutes=30))
        # During the night: the quiet webhook gets nothing, the other one everything.
        assert WebhookDispatcher(settings, clock=clock).drain(5) == 0
        assert quiet_r.requests == [] and len(loud_r.requests) == 3
        # An alert owed before the night but not yet sent when it starts is held too.
        evening = _alert(9, created=datetime(2026, 4, 20, 21, 59, tzinfo=BERLIN))
        _record(settings, [evening])
        assert _statuses(settings)[("night", "ev-9:high")] == "pending"
        WebhookDispatcher(settings, clock=clock).drain(5)
        assert quiet_r.requests == [] and _statuses(settings)[("night", "ev-9:high")] == "held"

        # After 07:00: two dispatchers at once (an overlapping scheduled run) still send ONE summary.
        clock.at = MORNING
        dispatchers = [WebhookDispatcher(settings, clock=clock) for _ in range(2)]
        threads = [threading.Thread(target=d.drain, args=(10,)) for d in dispatchers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(quiet_r.requests) == 1
        got = quiet_r.requests[0]
        # The reference library checks the timestamp against the real clock; this one is the test's.
        assert verify(load_secret(SECRET), got.headers, got.body, now=MORNING.timestamp())
        summary = AlertSummary.model_validate_json(got.body)
        assert got.headers["webhook-id"] == summary.summary_id == "quiet:2026-04-21T05:00Z"
        assert summary.count == 4 and [a.alert_id for a in summary.alerts] == [
            "ev-0:high",
            "ev-1:high",
            "ev-2:high",
            "ev-9:high",
        ]
        assert summary.quiet_from == datetime(2026, 4, 20, 20, 0, tzinfo=UTC)
        # Later runs find nothing more to send.
        assert WebhookDispatcher(settings, clock=clock).drain(2) == 0
        assert len(quiet_r.requests) == 1 and len(loud_r.requests) == 4
    statuses = _statuses(settings)
    assert {s for (w, _), s in statuses.items() if w == "night"} == {"summarized"}
    log = {(r.webhook, r.alert_id): r.status for r in list_deliveries(settings)}
    assert log[("night", "quiet:2026-04-21T05:00Z")] == "delivered"


def test_a_summary_held_by_a_failing_receiver_is_retried_not_lost(settings: Settings) -> None:
    with receiver(script=[503]) as r:
        settings = _with_hooks(
            settings, _hook(r.url, name="night", format="slack", quiet_hours="22:00-07:00", timezone="Europe/Berlin")
        )
        _record(settings, [_alert(1), _alert(2, level="critical")])
        assert WebhookDispatcher(settings, clock=_Clock(MORNING)).drain(10) == 0
    assert [q.status for q in r.requests] == [503, 200]
    assert r.requests[0].headers["webhook-id"] == r.requests[1].headers["webhook-id"]
    body = json.loads(r.requests[1].body)
    assert body["blocks"][0]["text"]["text"] == "2 alerts during quiet hours"
    assert "22:00–07:00 Europe/Berlin" in body["text"]
    assert "*critical*" in body["blocks"][3]["text"]["text"]


def test_rows_held_after_their_summary_went_out_are_sent_on_their_own(settings: Settings) -> None:
    with receiver() as r:
        settings = _with_hooks(
            settings, _hook(r.url, name="night", quiet_hours="22:00-07:00", timezone="Europe/Berlin")
        )
        _record(settings, [_alert(1)])
        WebhookDispatcher(settings, clock=_Clock(MORNING)).drain(5)
        # A late writer (a processor whose clock was behind) records one more for the same night.
        _record(settings, [_alert(2)])
        WebhookDispatcher(settings, clock=_Clock(MORNING)).drain(5)
    assert [q.headers["webhook-id"] for q in r.requests] == ["quiet:2026-04-21T05:00Z", "ev-2:high"]


# --------------------------------------------------------------------------- side by side


def test_a_hanging_webhook_does_not_hold_up_the_others(settings: Settings) -> None:
    with receiver(default=HANG) as slow, receiver() as fast:
        settings = _with_hooks(
            settings, _hook(slow.url, name="slow", timeout_s=30, max_attempts=1), _hook(fast.url, name="fast")
        )
        _record(settings, [_alert(i, created=MORNING) for i in range(5)])
        dispatcher = WebhookDispatcher(settings)
        worker = threading.Thread(target=dispatcher.drain, args=(60,))
        worker.start()
        slow.next(timeout_s=20)  # the slow target has its first request, and answers nothing
        started = time.monotonic()
        got = [fast.next(timeout_s=20).headers["webhook-id"] for _ in range(5)]
        took = time.monotonic() - started
        # All five reached the fast target while the slow one still hangs on its first.
        assert got == [f"ev-{i}:high" for i in range(5)]
        assert len(slow.requests) == 1 and not slow.release.is_set()
        assert took < 10, f"the fast webhook waited {took:.1f} s"
        slow.release.set()  # the hanging handler returns without a response: a connection error
        worker.join(timeout=60)
        assert not worker.is_alive()
    statuses = _statuses(settings)
    assert {s for (w, _), s in statuses.items() if w == "fast"} == {"delivered"}
    assert statuses[("slow", "ev-0:high")] == "dead"


# --------------------------------------------------------------------------- corrections


def _event(score: float) -> Event:
    return Event(
        event_id="ev-x",
        title="Acme raises $2 billion",
        category="capital",
        organisations=("acme",),
        first_seen=NIGHT,
        last_seen=NIGHT,
        items=2,
        publishers=2,
        signal_score=score,
        verification="corroborated",
    )


def _view(item: str, title: str, figures: tuple[tuple[str, float], ...], *, fresh: bool) -> SourceView:
    return SourceView(
        item,
        "ev-x",
        f"Pub {item}",
        "media",
        "media",
        f"https://news.example.com/{item}",
        NIGHT,
        title,
        False,
        fresh,
        figures,
    )


def test_a_correction_that_changes_the_facts_raises_an_alert_naming_the_first() -> None:
    settings = AlertSettings(min_score=70)
    stored = _view("a", "Acme raises $2 billion", (("USD", 2e9),), fresh=False)
    fixed = _view("b", "Correction: Acme raises $2.5 billion, not $2 billion", (("USD", 2.5e9),), fresh=True)
    views = [stored, fixed]
    alerts = build_alerts([_event(76)], {"ev-x:high"}, MORNING, settings, lambda _ids: views)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.alert_id == correction_alert_id("ev-x", "high", "b") and alert.alert_id.startswith("ev-x:high:")
    assert alert.previous_alert_id == "ev-x:high" and alert.correction and alert.level == "high"
    assert alert.reasons[0].startswith("correction from Pub b: Correction: Acme raises $2.5 billion")
    # Replayed: the same id is already recorded, nothing new. A score below min_score still corrects.
    assert build_alerts([_event(76)], {"ev-x:high", alert.alert_id}, MORNING, settings, lambda _ids: views) == []
    assert len(build_alerts([_event(40)], {"ev-x:high"}, MORNING, settings, lambda _ids: views)) == 1
    # Not news: a correction restating known figures, or a plain item with a new figure.
    same = _view("c", "Update: Acme raises $2.0 billion", (("USD", 2e9),), fresh=True)
    plain = _view("d", "Acme raises $3 billion", (("USD", 3e9),), fresh=True)
    for news in (same, plain):
        assert build_alerts([_event(76)], {"ev-x:high"}, MORNING, settings, lambda _ids, n=news: [stored, n]) == []
    # A correction that comes with a level rise is one alert: the rise, saying it is also a correction.
    rise = build_alerts([_event(90)], {"ev-x:high"}, MORNING, settings, lambda _ids: views)
    assert [(a.alert_id, a.previous_alert_id, a.correction) for a in rise] == [("ev-x:critical", "ev-x:high", True)]
    # An event never alerted raises its first alert, not a correction.
    first = build_alerts([_event(76)], set(), MORNING, settings, lambda _ids: views)
    assert [(a.alert_id, a.previous_alert_id, a.correction) for a in first] == [("ev-x:high", None, False)]
