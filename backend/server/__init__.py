"""The local backend service: HTTP API (FastAPI), job store (SQLite), one worker process.

The HTTP server validates everything and only records jobs; a separate worker process
runs them one at a time, so a crash in training never takes the server down. The
contract is docs/API.md.
"""
