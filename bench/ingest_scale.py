"""Ingest at the scale of real source lists: N feed sources on distinct loopback hosts (issue 16).

Servers run in a child process (asyncio, so thousands of held requests cost nothing and
their timing does not share the ingest process's GIL) on 127.0.0.2 ... 127.0.0.250 with
several ports each; source i is on address i mod 249. Every feed answers after `--latency`
with 20 entries: 17 that the previous cycle already saw (full text, nothing to follow) and
3 new summary-only ones whose pages are followed, each page answering after `--latency`;
robots.txt answers 404 at once (RFC 9309: no restrictions), and is requested like any page.

Per run: a warm-up cycle (17 entries each, unmeasured) seeds the cursors, then the measured
cycle. Printed: cycle time, envelopes/s, requests, the smallest gap between two requests to
one address as the servers saw it (= the highest per-host request rate; must not be under
`[fetch] per_host_interval_s`), and the ingest process's peak RSS. The sequential baseline
(max_concurrency = 1, today's loop) runs in the same process on the first `--baseline-sources`
sources (sequential time is linear in sources, so it is also extrapolated to N).

    .venv/bin/python bench/ingest_scale.py [--sources 1000] [--concurrency 128] [--interval 1.0]
        [--latency 0.2] [--baseline-sources 25]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DO_NOT_TRACK", "1")

from connectors.ingest import IngestReport, run_ingest  # noqa: E402
from infra.broker import EmbeddedBroker  # noqa: E402
from infra.config import FetchSettings, KafkaSettings, Settings, SourceConfig, StoreSettings  # noqa: E402

FIRST_IP, LAST_IP = 2, 250  # 127.0.0.2 ... 127.0.0.250
ENTRIES, NEW = 20, 3
# Envelopes per source in the measured cycle: each new entry is a post plus its page.
ENVELOPES_PER_SOURCE = 2 * NEW


# --------------------------------------------------------------------------- servers (child process)


def _feed(source: int, generation: int, base: str) -> bytes:
    body = "<p>" + "Frontier model news paragraph. " * 20 + "</p>"
    items = [
        f"<item><title>Old {source}-{j}</title><guid>s{source}-old-{j}</guid><link>{base}/old/{j}.html</link>"
        f"<description>summary {j}</description><content:encoded><![CDATA[{body}]]></content:encoded></item>"
        for j in range(ENTRIES - NEW)
    ]
    if generation > 0:
        items = [
            f"<item><title>New {source}-{generation}-{j}</title><guid>s{source}-g{generation}-{j}</guid>"
            f"<link>{base}/page/{generation}/{j}.html</link><description>summary only</description></item>"
            for j in range(NEW)
        ] + items
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>bench</title>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def _page(path: str) -> bytes:
    body = "<p>" + "Article text about a frontier model release. " * 40 + "</p>"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{path}</title></head>'
        f"<body><article>{body}</article></body></html>"
    ).encode()


def _response(status: int, body: bytes, content_type: str) -> bytes:
    head = (
        f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def serve(control: Connection, addresses: list[tuple[str, int]], latency: float) -> None:
    """Child process: one listener per (ip, port slot); answers until told to stop."""
    state = {"generation": 0}
    arrivals: dict[str, list[float]] = {}
    feeds: dict[tuple[int, int], bytes] = {}

    async def main() -> None:
        bound: dict[tuple[str, int], int] = {}
        servers = []
        for ip, slot in addresses:

            async def handle(
                reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ip: str = ip, slot: int = slot
            ) -> None:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    # The moment the whole request is in: what a server's rate limiter would count.
                    arrivals.setdefault(ip, []).append(time.monotonic())
                    path = head.split(b" ", 2)[1].decode("latin-1")
                    if path == "/robots.txt":
                        writer.write(_response(404, b"", "text/plain"))
                    elif path.startswith("/feed"):
                        await asyncio.sleep(latency)
                        source = int(path.rsplit("/", 1)[1].split(".")[0])
                        key = (source, state["generation"])
                        if key not in feeds:
                            feeds[key] = _feed(source, state["generation"], f"http://{ip}:{bound[ip, slot]}")
                        writer.write(_response(200, feeds[key], "application/rss+xml"))
                    else:
                        await asyncio.sleep(latency)
                        writer.write(_response(200, _page(path), "text/html"))
                    await writer.drain()
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    pass
                finally:
                    writer.close()

            server = await asyncio.start_server(handle, ip, 0, backlog=256)
            bound[ip, slot] = server.sockets[0].getsockname()[1]
            servers.append(server)
        control.send(bound)
        loop = asyncio.get_running_loop()
        while True:
            command, arg = await loop.run_in_executor(None, control.recv)
            if command == "generation":
                state["generation"] = arg
                arrivals.clear()
                control.send("ok")
            elif command == "arrivals":
                control.send(arrivals)
            else:
                break
        for server in servers:
            server.close()

    asyncio.run(main())


# --------------------------------------------------------------------------- the ingest side


@dataclass
class Cycle:
    sources: int
    concurrency: int
    elapsed_s: float
    envelopes: int
    requests: int
    errors: int
    min_gap_s: float | None
    peak_rss_mib: float

    def line(self, label: str, interval: float) -> str:
        gap = (
            "n/a"
            if self.min_gap_s is None
            else (
                f"{self.min_gap_s:.3f} s = {1 / self.min_gap_s:.2f} req/s"
                f" ({'OK' if self.min_gap_s >= interval else 'VIOLATED'}: interval {interval:g} s)"
            )
        )
        return (
            f"{label:<24} {self.sources:>5} sources  concurrency {self.concurrency:>3}  "
            f"cycle {self.elapsed_s:7.1f} s  {self.envelopes:>6} envelopes  "
            f"{self.envelopes / self.elapsed_s:7.1f} env/s  {self.requests:>5} requests  {self.errors} errors\n"
            f"{'':<24} per-host min gap {gap}  peak RSS {self.peak_rss_mib:.0f} MiB"
        )


def _settings(root: Path, bootstrap: str, sources: list[SourceConfig], fetch: FetchSettings) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(
        bootstrap=bootstrap,
        raw_topic=f"bench.raw.{suffix}",
        dlq_topic=f"bench.dlq.{suffix}",
        alerts_topic=f"bench.alerts.{suffix}",
    )
    return Settings(
        data_dir=root / suffix,
        kafka=kafka,
        fetch=fetch,
        sources=sources,
        store=StoreSettings(path=root / suffix / "radar.duckdb", lock_timeout_s=60),
    )


def _min_gap(arrivals: dict[str, list[float]]) -> float | None:
    gaps = [b - a for times in arrivals.values() for a, b in itertools.pairwise(sorted(times))]
    return min(gaps, default=None)


def _cycle(control: Connection, settings: Settings, generation: int) -> tuple[IngestReport, dict[str, list[float]]]:
    control.send(("generation", generation))
    control.recv()
    report = run_ingest(settings)
    control.send(("arrivals", None))
    return report, control.recv()


def _measure(
    control: Connection, root: Path, bootstrap: str, sources: list[SourceConfig], fetch: FetchSettings
) -> Cycle:
    settings = _settings(root, bootstrap, sources, fetch)
    warm, _ = _cycle(control, settings, 0)  # seeds the cursors with the 17 old entries
    assert warm.total("produced") == (ENTRIES - NEW) * len(sources), warm.summary()
    report, arrivals = _cycle(control, settings, 1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Requests as the servers counted them (robots.txt included).
    return Cycle(
        len(sources),
        fetch.max_concurrency,
        report.elapsed_s,
        report.total("produced"),
        sum(len(times) for times in arrivals.values()),
        report.total("errors"),
        _min_gap(arrivals),
        rss,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=128, help="[fetch] max_concurrency of the measured run")
    parser.add_argument("--interval", type=float, default=1.0, help="[fetch] per_host_interval_s")
    parser.add_argument("--latency", type=float, default=0.2, help="server delay before each feed and page")
    parser.add_argument("--ports", type=int, default=0, help="ports per address (default: enough for --sources)")
    parser.add_argument(
        "--baseline-sources",
        type=int,
        default=25,
        help="sources in the sequential baseline (0: skip it); extrapolated to --sources",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    n_ips = min(LAST_IP - FIRST_IP + 1, args.sources)
    ports = args.ports or -(-args.sources // n_ips)
    addresses = [(f"127.0.0.{FIRST_IP + i}", slot) for i in range(n_ips) for slot in range(ports)]
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    server = ctx.Process(target=serve, args=(theirs, addresses, args.latency), daemon=True)
    server.start()
    bound: dict[tuple[str, int], int] = ours.recv()
    sources = []
    for i in range(args.sources):
        ip = f"127.0.0.{FIRST_IP + i % n_ips}"
        port = bound[ip, (i // n_ips) % ports]
        sources.append(
            SourceConfig(
                name=f"bench-{i:04d}", kind="feed", url=f"http://{ip}:{port}/feed/{i}.xml", tier="media", local=True
            )
        )
    fetch = FetchSettings(
        per_host_interval_s=args.interval, max_concurrency=args.concurrency, timeout_s=15, retries=1, backoff_s=0.5
    )
    print(
        f"{args.sources} feed sources on {n_ips} addresses x {ports} ports; latency {args.latency:g} s per feed"
        f" and page; {ENTRIES} entries, {NEW} new (+ their pages) per source; interval {args.interval:g} s;"
        f" {os.cpu_count()} cores"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="radar-bench-") as tmp_name:
            root = Path(tmp_name)
            broker = EmbeddedBroker(root / "broker")
            state, _ = broker.ensure_running()
            try:
                concurrent = _measure(ours, root, state.bootstrap, sources, fetch)
                print(concurrent.line("concurrent", args.interval), flush=True)
                expected = ENVELOPES_PER_SOURCE * args.sources
                if concurrent.envelopes != expected:
                    print(f"  !! expected {expected} envelopes")
                if args.baseline_sources:
                    few = sources[: args.baseline_sources]
                    sequential = _measure(
                        ours, root, state.bootstrap, few, fetch.model_copy(update={"max_concurrency": 1})
                    )
                    print(sequential.line("sequential (baseline)", args.interval))
                    projected = sequential.elapsed_s / len(few) * args.sources
                    print(
                        f"{'':<24} sequential projected to {args.sources} sources: {projected:.0f} s"
                        f" ({projected / 60:.1f} min); concurrent is {projected / concurrent.elapsed_s:.0f}x faster"
                    )
            finally:
                broker.stop()
    finally:
        ours.send(("stop", None))
        server.join(timeout=10)


if __name__ == "__main__":
    main()
