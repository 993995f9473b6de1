"""cxloop's shared library: the event contracts and the plumbing every service stands on."""
