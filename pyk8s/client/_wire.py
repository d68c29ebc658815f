"""The informers' GET requests (list and watch) as bytes: where they go, with which headers.

Nothing here needs more than the standard library's URL helpers, so a process can send its
first lists (``_prefetch``) before it has imported an event loop or an HTTP parser; the
answers are read by http.client there and by llhttp (httptools) in the asyncio transport (``_http``).
"""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

from pyk8s.client._config import ClientConfig

__all__ = ["Endpoint"]


class Endpoint:
    """Where and how to send GETs for one ``ClientConfig``: address, TLS, fixed headers."""

    def __init__(self, config: ClientConfig, user_agent: str, ssl_context=None) -> None:
        url = urlsplit(config.server)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.ssl = ssl_context
        self.server_hostname = (config.tls_server_name or self.host) if ssl_context is not None else None
        self.base_path = url.path.rstrip("/")
        self.headers = {"Host": url.netloc, "Accept": "application/json", "User-Agent": user_agent, **config.auth_headers()}
        self._head_suffix = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items()).encode("latin-1")

    def target(self, path: str, query: dict[str, str] | None = None) -> str:
        target = self.base_path + path
        if query:
            target += "?" + urlencode(query, quote_via=quote)
        return target

    def get_request(self, path: str, query: dict[str, str] | None = None) -> bytes:
        return b"GET " + self.target(path, query).encode("ascii") + b" HTTP/1.1\r\n" + self._head_suffix + b"\r\n"
