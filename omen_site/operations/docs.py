"""The API's schema, and its docs pages (Swagger UI, Redoc) under a strict Content-Security-Policy.

Both are served from this site (drf-spectacular-sidecar's static files): scripts only from here,
and none inline. Swagger UI's start-up script, normally inline, comes as a file of its own
(``SpectacularSwaggerSplitView`` answers ``?script`` with it); Redoc starts from its
``<redoc spec-url>`` element. Styles may be inline: both libraries insert ``<style>`` elements as
they render, and a style runs no code. Images may be ``data:`` URIs (their icons), and Redoc's
search runs in a worker it builds from a ``blob:`` of its own code. Nothing else loads, and no
page may frame them.
"""

from csp.constants import NONE, SELF, UNSAFE_INLINE
from csp.decorators import csp
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from omen_site.api.renderers import OrjsonRenderer

# Set through django-csp, as the admin's (settings.CONTENT_SECURITY_POLICY): this replaces it here.
DOCS_CONTENT_SECURITY_POLICY = {
    "default-src": [NONE],
    "script-src": [SELF],
    "style-src": [SELF, UNSAFE_INLINE],
    "img-src": [SELF, "data:"],
    "font-src": [SELF],
    "connect-src": [SELF],
    # Redoc runs its search index in a worker it makes from a blob of its own code.
    "worker-src": ["blob:"],
    "base-uri": [NONE],
    "form-action": [SELF],
    "frame-ancestors": [NONE],
}
with_docs_policy = csp(DOCS_CONTENT_SECURITY_POLICY)


class SchemaView(SpectacularAPIView):
    """The OpenAPI document; an error about it (``?format=`` of no format it has) in the API's JSON
    error shape. DRF renders an error with the view's first renderer, here the YAML one."""

    def handle_exception(self, exc):
        self.request.accepted_renderer, self.request.accepted_media_type = OrjsonRenderer(), "application/json"
        return super().handle_exception(exc)


class RedocView(SpectacularRedocView):
    # drf-spectacular's page, without the Google Fonts it links: nothing leaves the machine.
    template_name = "omen_site/redoc.html"


schema = SchemaView.as_view()
swagger_ui = with_docs_policy(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))
redoc = with_docs_policy(RedocView.as_view(url_name="api-schema"))
