"""The Azure Functions app: composition only. Nothing here does I/O at import."""

from __future__ import annotations

import azure.functions as func

from functions import (
    allocation_timer,
    engineering_events,
    http_api,
    master_data,
    outbox_feed,
    sla_timer,
    warehouse_events,
)

# The review API is the app's HTTP trigger; every other trigger is a blueprint on it.
app = func.AsgiFunctionApp(app=http_api.asgi_app, http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (engineering_events.bp, warehouse_events.bp, sla_timer.bp, outbox_feed.bp, allocation_timer.bp,
                  master_data.bp):
    app.register_functions(blueprint)
