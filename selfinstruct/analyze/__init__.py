"""Describe a generation run the way the Self-Instruct paper does (section 3.2): counts, lengths, seed overlap, rejects.

Modules, each with one job:

    stats.py   the statistics, from already-loaded records (pure: no I/O)
    run.py     read a run directory, write summary.json and the figures (``analyze_run(AnalyzeConfig)``)
    plots.py   the run's PNG figures (matplotlib Agg, via selfinstruct.plotting)

The `selfinstruct analyze` command is the CLI on top.  numpy, rapidfuzz and
matplotlib are imported by the modules that need them, so importing this
package costs nothing.
"""
