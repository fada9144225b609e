"""One router per resource, assembled in :func:`api.app.create_app`."""
