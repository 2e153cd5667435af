"""The REST app: one ASGI object, mounted by Reflex (api_transformer) or served alone by uvicorn."""

from app.api.main import api

__all__ = ["api"]
