"""The constraint machinery of a search: budgets, hard limits, repair to fit, fit checks, viability floors."""
