"""What every app uses and no domain owns: abuse limits, periodic scheduling, leases, backoff,
durations in words, JSON API answers, the resilient task worker and shared template filters.

Nothing here knows about organizations, Klaviyo or parties: `core` imports no project app.
"""
