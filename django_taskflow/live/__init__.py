"""Live progress over Channels: task events pushed to websocket clients.

``outbox`` puts committed events on a shared channel layer (Redis), from
whichever process recorded them; ``relay`` gives each web process one feed
of events (that layer's group, or its own reading of the event log) and
hands them to its consumers; ``consumer`` serves ``/ws/taskflow/``, taking
``subscriptions`` and checking ``access`` per task; ``frames`` is what a
client receives; ``routing`` holds the URL.
"""
