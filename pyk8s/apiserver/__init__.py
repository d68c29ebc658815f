"""The pyk8s API server: an RSGI app over a store, and ways to run it.

    from pyk8s.apiserver import APIServer, run_apiserver

    with run_apiserver(storage="reference") as server:   # a subprocess on a free port
        httpx.get(server.url + "/api/v1/pods")
"""

from pyk8s.apiserver.app import APIServer, Response
from pyk8s.apiserver.server import ServerConfig, serve
from pyk8s.apiserver.testing import APIServerProcess, run_apiserver

__all__ = ["APIServer", "Response", "ServerConfig", "serve", "APIServerProcess", "run_apiserver"]
