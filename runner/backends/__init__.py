"""Backends turn a Plan into a RunResult; each lives in its own module and imports lazily."""
