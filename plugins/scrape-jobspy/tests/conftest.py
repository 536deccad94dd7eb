"""A local stand-in of LinkedIn's guest job search (the pages jobspy reads), and the plugin's process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from synthral_sdk.testing import RunnerClient

CARD = """<li><div class="base-card base-search-card" data-entity-urn="urn:li:jobPosting:{id}">
<h3 class="base-search-card__title">{title}</h3>
<h4 class="base-search-card__subtitle"><a href="https://www.linkedin.com/company/{company}?trk=x">{company}</a></h4>
<span class="job-search-card__location">{city}, CA</span><time datetime="2026-12-0{day}">1 day ago</time></div></li>"""
JOBS = [
    (4000 + n, f"Python Engineer {n}", f"acme{n}", "San Francisco" if n % 2 else "Oakland", 1 + n % 5) for n in range(7)
]


class Board:
    url: ClassVar[str] = ""
    queries: ClassVar[list[dict[str, list[str]]]] = []


@pytest.fixture(scope="module")
def board() -> Iterator[type[Board]]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            del format, args

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/jobs-guest/jobs/api/seeMoreJobPostings/search":
                query = parse_qs(parts.query)
                Board.queries.append(query)
                start = int(query.get("start", ["0"])[0])
                cards = [
                    CARD.format(id=i, title=t, company=c, city=city, day=d)
                    for i, t, c, city, d in JOBS[start : start + 10]
                ]
                body = "<!DOCTYPE html>\n\n<!---->" + "".join(cards) if cards else "<!DOCTYPE html>\n\n<!---->"
                self.send_response(200)
            else:
                body = "not found"
                self.send_response(404)
            data = body.encode()
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Board.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Board
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerClient]:
    with RunnerClient("synthral-scrape-jobspy", blob_root=tmp_path_factory.mktemp("blobs")) as client:
        yield client
