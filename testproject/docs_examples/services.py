"""The example of docs/howto/services.md, run by tests/processes/test_services.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django_taskflow import ServiceContext, service, services


@service(tick=timedelta(seconds=1))
class LiveTracking:
    """Follows one ride: takes location updates, repeats the latest every tick."""

    def on_start(self, context: ServiceContext, ride_id: int) -> None:
        self.ride_id = ride_id
        self.position: list[float] | None = None

    def on_message(self, context: ServiceContext, message: dict[str, Any]) -> None:
        if message["command"] == "update_location":
            self.position = [message["lat"], message["lng"]]
            context.emit({"ride": self.ride_id, "at": self.position})

    def on_tick(self, context: ServiceContext) -> None:
        if self.position is not None:
            context.emit({"ride": self.ride_id, "still_at": self.position})

    def on_stop(self, context: ServiceContext) -> None:
        context.emit({"ride": self.ride_id, "tracking": "ended"})


def track_ride(ride_id: int) -> dict[str, Any] | None:
    """Start tracking a ride, send it a location, and return the first position it reports."""
    name = f"ride-{ride_id}"
    services.start(name, LiveTracking, ride_id=ride_id)
    services.send(name, {"command": "update_location", "lat": 12.97, "lng": 77.59})
    for event in services.events(name, after=0, timeout=30):
        if event.kind == "emitted" and "at" in event.data:
            return event.data
    return None
