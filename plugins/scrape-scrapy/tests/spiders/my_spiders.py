"""An operator's spider, installed in the SYNTHRAL_SCRAPY_SPIDERS folder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Response


class Prices(scrapy.Spider):
    name = "prices"

    def __init__(self, base: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [f"{base}/p/{n}" for n in range(1, 4)]

    def parse(self, response: Response) -> Iterator[dict[str, Any]]:
        yield {"page": response.url.rsplit("/", 1)[1], "price": response.css(".price::text").get()}
