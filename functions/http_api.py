"""HTTP: the review API (one FastAPI app) as the Function app itself.

`func.AsgiFunctionApp(app=asgi_app)` indexes as one HTTP trigger on
`/{*route}` (host.json sets `routePrefix` to "", so the app sees `/api/...`).
It is anonymous at the platform: identity and roles are the app's, for every
route (App Service authentication principal, or API keys), so a request
without credentials gets the app's 401 problem.
"""

from __future__ import annotations

from common.api.app import create_app

asgi_app = create_app()
