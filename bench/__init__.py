"""Partyline's benchmarks; never imported by the product. Run from the project's root:

- `python -m bench` (`make bench`, bench/__main__.py): the stack a deployment runs at scale,
  started on this machine (stack), its scenarios (rush, storm, pages, reminders, outage) under real
  HTTP load (load, a process of its own), with bench-only baselines served by the same
  gunicorn (settings, urls, views);
- `python -m bench.quick` (`make bench-quick`): the signup rush in-process, on SQLite.

Both start from the same organizers, connections and parties (fixtures).
"""
