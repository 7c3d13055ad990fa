"""The tests' helpers: plain functions, classes and data, one module per job (signups,
attendees, workers, waiting, the browser's steps...). Fixtures live in the conftest.py files
and build on these; a test module imports from here, never from another test module or a
conftest."""
