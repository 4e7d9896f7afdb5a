"""The ASGI entry point for uvicorn workers: ``uvicorn canyu.asgi:app``."""

from canyu.app import create_app

app = create_app()
