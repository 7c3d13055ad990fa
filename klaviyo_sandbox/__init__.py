"""A local, faithful Klaviyo for development, demos and tests (see README.md)."""
