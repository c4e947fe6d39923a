"""Reports on finished runs: Pareto fronts, plot style, architecture pictures, the HTML report.

Everything here reads run folders (config.json, arch.json, metrics.json, history.csv); nothing trains.
"""
