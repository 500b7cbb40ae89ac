"""The Azure Functions app: composition only. Nothing here does I/O at import."""

from __future__ import annotations

import azure.functions as func

from functions import engineering_events

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (engineering_events.bp,):
    app.register_functions(blueprint)
