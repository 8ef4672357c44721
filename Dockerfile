FROM python:3.11-slim

# The image is for production: it refuses to start until DATABASE_URL, SECRET_KEY,
# ALLOWED_HOSTS and Redis are configured.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OMEN_ENV=production
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
# pg_dump and pg_restore for backups (manage.py backup, the daily backup task): the client must
# be as new as the server (PostgreSQL 15 in docker-compose.yml).
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

COPY . .
# Static files are collected at build time with the production storage (hashed
# names); the throwaway values only satisfy the production guard for this step.
RUN DEBUG=false ALLOWED_HOSTS=build REDIS_URL=redis://build:6379/0 OMEN_CACHE_BACKEND=redis \
    DATABASE_URL=postgres://build@localhost/build \
    SECRET_KEY=build-only-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ \
    python manage.py collectstatic --no-input
# The data volumes' mount points, owned by omen: Docker copies a directory's owner into a new
# named volume, so one missing here would be root's and unwritable (ledger.E001-E003, retention.E002, retention.E003).
RUN useradd --create-home omen && mkdir -p /app/var /var/lib/omen/ledger /var/lib/omen/ledger-archive /var/lib/omen/retention-archive \
    /var/lib/omen/ledger-long-term /var/lib/omen/backups \
    && chown -R omen /app/var /var/lib/omen
USER omen

EXPOSE 8000
# Threaded workers (gthread): a worker reports to gunicorn from its main thread whatever its
# requests take, so an admin export streaming past the worker timeout (30 s) is not killed midway,
# as a sync worker, silent while it serves a request, was (tests/omen_site/test_web_command.py).
CMD ["gunicorn", "omen_site.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "4"]
