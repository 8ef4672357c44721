"""What operators and their machines ask of the site: health, metrics, error pages, the docs pages' CSP.

``health`` answers load balancers (``/health/live``, ``/health/ready``), ``metrics`` answers
Prometheus (``/metrics``), ``errors`` answers 400/403/404/500 in the API's error shape under
``/api/`` and with Django's pages elsewhere, ``docs`` serves Swagger UI and Redoc under a strict
Content-Security-Policy. ``docs/operations.md`` describes all of it for operators.
"""
