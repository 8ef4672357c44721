"""API views refuse a query parameter they do not take, and one given twice, naming it.

DRF and django-filter read the parameters they know and pass over the rest: a misspelt filter
(``sourc=polymarket``) answered the whole, unfiltered list, ``detail=full`` on a list was
ignored, and ``source=bogus&source=polymarket`` was read as its last value. The client never
learnt. Each is a 400 here, naming the parameter.

The names an operation takes are the ones the OpenAPI schema documents for it: on a list, its
filterset's and its paginator's, which drf-spectacular documents from the same classes; beyond
them, the view's own ``query_parameters``, by action on a viewset, by method elsewhere (and
documented there with ``extend_schema``). ``tests/omen_site/api/test_query_parameters.py`` sends
every operation each parameter its schema names, and one it does not.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.http import QueryDict
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.mixins import ListModelMixin


class QueryParametersChecked:
    """A mixin for DRF views (before the view class in the bases)."""

    # The view's own parameters beyond a list's filters and paging: by action or lowercase method.
    query_parameters: Mapping[str, tuple[str, ...]] = {}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authenticated, permitted and throttled first
        method = request.method.lower()
        if method == "options" or not hasattr(self, method):
            return  # DRF's metadata, or a method the view does not allow: its 405 comes next
        refuse_unknown_parameters(request.query_params, self.query_parameter_names())

    def query_parameter_names(self) -> frozenset[str]:
        # A HEAD is its GET without the body (Django's View maps it so; a viewset maps it to the
        # GET's action); a viewset's action is None for a method it does not route.
        method = self.request.method.lower()
        operation = getattr(self, "action", None) or ("get" if method == "head" else method)
        known = type(self).__dict__.get("_query_parameter_names")
        if known is None:
            known = {}
            type(self)._query_parameter_names = known  # per class: a subclass has its own
        names = known.get(operation)
        if names is None:
            names = known[operation] = frozenset(self._names_of(operation))
        return names

    def _names_of(self, operation: str) -> set[str]:
        names = set(self.query_parameters.get(operation, ()))
        lists = operation == "list" or (operation == "get" and isinstance(self, ListModelMixin))
        if lists:
            filterset_class = getattr(self, "filterset_class", None)
            if filterset_class is not None:
                names.update(filterset_class.base_filters)
            paginator = getattr(self, "paginator", None)
            if paginator is not None:
                names.update(parameter["name"] for parameter in paginator.get_schema_operation_parameters(self))
        return names


def refuse_unknown_parameters(query: QueryDict, names: frozenset[str]) -> None:
    problems = {}
    for name in query:
        if name not in names:
            taken = ", ".join(sorted(names)) or "no query parameter"
            problems[name] = [
                ErrorDetail(f"Not a parameter of this operation, which takes {taken}.", "unknown_parameter")
            ]
        elif len(query.getlist(name)) > 1:
            problems[name] = [ErrorDetail("Given more than once: give it once.", "repeated_parameter")]
    if problems:
        raise ValidationError(problems)
