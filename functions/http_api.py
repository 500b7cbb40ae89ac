"""HTTP: the review API (one FastAPI app) as the Function app itself.

`func.AsgiFunctionApp(app=asgi_app)` indexes as one HTTP trigger on
`/{*route}` (host.json sets `routePrefix` to "", so the app sees `/api/...`).
Function keys guard it at the platform; identity and roles are the app's
(App Service authentication principal, or API keys).
"""

from __future__ import annotations

from common.api.app import create_app

asgi_app = create_app()
