"""The Azure Functions app: composition only. Nothing here does I/O at import."""

from __future__ import annotations

import azure.functions as func

from functions import (
    allocation_timer,
    engineering_events,
    http_api,
    master_data,
    outbox_feed,
    outbox_republish,
    sla_timer,
    warehouse_events,
)

# The review API is the app's HTTP trigger; every other trigger is a blueprint on it.
# Anonymous at the host: the app authenticates every caller itself (API keys or
# App Service authentication), and a function key would lock the browser pages
# (the dashboard's assets and fetches, the API docs) out.
app = func.AsgiFunctionApp(app=http_api.asgi_app, http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (engineering_events.bp, warehouse_events.bp, sla_timer.bp, outbox_feed.bp, outbox_republish.bp,
                  allocation_timer.bp, master_data.bp):
    app.register_functions(blueprint)
