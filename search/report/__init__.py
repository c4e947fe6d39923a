"""Pictures of what a search chose: `show` (arch.png per run) and `report` (report.html per sweep)."""
