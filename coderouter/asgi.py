"""The gunicorn target: ``coderouter.asgi:app``."""

from coderouter.app import create_app
from coderouter.config import load_config
from coderouter.disconnect import watch_disconnects

app = watch_disconnects(create_app(load_config()))
