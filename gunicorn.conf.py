"""gunicorn settings, read automatically from the working directory (``gunicorn wsgi:app``).

Environment overrides: GUNICORN_WORKERS, GUNICORN_BIND, GUNICORN_TIMEOUT.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Requests are short and mostly wait on the database: two per core, at most eight.
workers = int(os.environ.get("GUNICORN_WORKERS", min(8, multiprocessing.cpu_count() * 2)))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then (memory growth of long-lived processes), staggered.
max_requests = 5000
max_requests_jitter = 500
# The reverse proxy on the same host sets X-Forwarded-For / -Proto.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
# %(U)s is the path *without* the query string: feed and invitation tokens never reach the
# logs, nor do search terms (a patient's commune).
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
if os.environ.get("LOG_FORMAT") == "json":  # one JSON object per line, like the app's logs
    access_log_format = (
        '{"remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", "status": %(s)s, '
        '"bytes": "%(B)s", "ms": %(M)s}'
    )
errorlog = "-"
logger_class = "app.access_log.RedactingLogger"


def post_worker_init(worker):
    """Each worker, once it has loaded the app: the long-lived objects out of the garbage
    collector's full passes (``app.warmup``)."""
    from app.warmup import settle

    settle()
