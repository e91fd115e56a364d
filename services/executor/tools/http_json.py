"""One JSON GET for the web search providers, with their failures turned into SearchError."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import aiohttp

from services.executor.tools.search import SearchError

MAX_RESPONSE_BYTES = 2 * 1024 * 1024
_TAG = re.compile(r"<[^>]{0,200}>")


def strip_html(text: Any) -> str:
    """Providers put <strong> and entities in titles and snippets; the model needs plain text."""
    return html.unescape(_TAG.sub("", text)) if isinstance(text, str) else ""


class HttpClient:
    """Owns an aiohttp session unless given one; the session is opened on first use."""

    def __init__(self, session: aiohttp.ClientSession | None, timeout: float) -> None:
        self._session = session
        self._owns_session = session is None
        self.timeout = timeout

    async def get_json(
        self, provider: str, url: str, params: dict[str, str], headers: dict[str, str]
    ) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.get(
                url,
                params=params,
                headers={"Accept": "application/json", **headers},
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as response:
                if response.status == 429:
                    raise SearchError(
                        f"{provider} rate limit reached (HTTP 429); try later", transient=True
                    )
                if response.status in (401, 403):
                    raise SearchError(f"{provider} refused the request (HTTP {response.status})")
                if response.status != 200:
                    raise SearchError(
                        f"{provider} answered HTTP {response.status}",
                        transient=response.status >= 500,
                    )
                body = await response.content.read(MAX_RESPONSE_BYTES + 1)
        except TimeoutError:
            raise SearchError(
                f"{provider} timed out after {self.timeout:g} s", transient=True
            ) from None
        except aiohttp.ClientError as error:
            raise SearchError(
                f"{provider} could not be reached: {type(error).__name__}", transient=True
            ) from None
        if len(body) > MAX_RESPONSE_BYTES:
            raise SearchError(f"{provider} answered with more than {MAX_RESPONSE_BYTES} bytes")
        try:
            return json.loads(body)
        except ValueError:
            raise SearchError(f"{provider} answered with invalid JSON") from None

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
