"""The REST API's site-wide parts: keys and scopes, the one error shape, the request id.

The endpoints live with the app that owns their data (``signals.api``); they name the scope they
need (``read_scope``, ``write_scope``) and never import from here: authentication, permission and
errors are wired in ``REST_FRAMEWORK`` (settings).
"""
