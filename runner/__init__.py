"""Declarative, config-driven experiment runner: compose Hydra configs into a plan and run it."""
