"""The built-in dashboard: one static page that reads the public API with a read key."""
