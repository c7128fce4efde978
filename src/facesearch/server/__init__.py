"""The web service assembled (`create_app`): one application context, the API's routers and the browser
pages, the middleware (metrics, security headers, request size limits) and the scheduled retention purge.

`assembly` puts it together; `limits` bounds request bodies per route; `metrics` counts requests and searches."""

from .assembly import create_app
from .limits import BodyLimit
from .metrics import Metrics

__all__ = ["BodyLimit", "Metrics", "create_app"]
