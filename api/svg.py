"""Server-drawn SVG charts: served on their own with a CSP of their own (an image: nothing to
load, nothing to run, no framing), or embedded in the page that computed their figures as a data
image (the page CSP allows `img-src data:`), so a page view computes its report once."""

from __future__ import annotations

import base64

from fastapi.responses import Response

SVG_HEADERS = {"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"}


def svg_response(svg: str) -> Response:
    return Response(svg, media_type="image/svg+xml", headers=SVG_HEADERS)


def data_image(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
