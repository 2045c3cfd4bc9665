"""The websocket URL, for a project's ASGI application::

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django_taskflow.live.routing import websocket_urlpatterns

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": AllowedHostsOriginValidator(
        AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
    ),
})
"""

from __future__ import annotations

from django.urls import path

from django_taskflow.live.consumer import TaskflowConsumer

websocket_urlpatterns = [
    # Channels' URLRouter takes Django's path(); the stubs know only views.
    path("ws/taskflow/", TaskflowConsumer.as_asgi()),  # type: ignore[arg-type]
]
