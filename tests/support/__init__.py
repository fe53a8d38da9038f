"""What the tests share: builders, fixtures and helpers (no tests here; test modules import only from this package)."""
