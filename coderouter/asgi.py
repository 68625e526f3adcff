"""The gunicorn target: ``coderouter.asgi:app``."""

from coderouter.app import create_app
from coderouter.config import load_config

app = create_app(load_config())
