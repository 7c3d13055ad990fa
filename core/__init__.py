"""Cross-cutting mechanisms every app uses, with no domain of their own."""
