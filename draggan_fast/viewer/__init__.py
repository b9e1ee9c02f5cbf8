"""The web viewer: an aiohttp server (server.py) speaking the protocol of docs/protocol.md
(protocol.py) to the static page in static/, one SessionWorker thread per connection."""
