"""One router per resource, assembled in :func:`reportrag.api.app.create_app`."""
