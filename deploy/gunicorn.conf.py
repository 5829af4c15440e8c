"""Gunicorn settings for the web app (``gunicorn -c deploy/gunicorn.conf.py``).

The values read from ``GUNICORN_*`` environment variables can differ per host, so one file
serves every host."""

import multiprocessing
import os

wsgi_app = "loyalty.wsgi:application"
# Behind the reverse proxy on the same host; the proxy terminates TLS.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers: the pages are short database reads; 2 × cores + 1 is the usual starting point.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# A request that takes longer than this is killed and logged (exports of one member, imports
# run as commands, not requests).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak never grows unbounded.
max_requests = 2000
max_requests_jitter = 200
# Load the app before forking: a missing SECRET_KEY or a broken setting stops the start at once.
preload_app = True
# Only the proxy on this host may set X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
# Logs to stdout/stderr (journald or the container runtime collects them); the app's own log
# format is set by LOG_FORMAT.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
