"""The HTTP API, micro-batching and web page (needs the ``server`` extra: fastapi, uvicorn).

>>> from audiosift.server import ServerConfig, create_app
>>> app = create_app(ServerConfig(models={"kw": "keywords"}))   # then: uvicorn.run(app)
"""

from audiosift.server.config import ServerConfig


def create_app(config=None, models=None):
    """See :func:`audiosift.server.app.create_app` (imported here lazily: it imports fastapi)."""
    from audiosift.server.app import create_app as _create_app

    return _create_app(config, models)


__all__ = ["ServerConfig", "create_app"]
