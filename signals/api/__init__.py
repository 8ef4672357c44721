"""The signals endpoints of the REST API (``/api/v1/``): read through cursor pages, filtered.

Scopes are named here (``read_scope``) and enforced by the site's permission class.
"""
