"""The report's figures, drawn: matplotlib code only, from the data the stages saved (oekaki/core/figure_data.py).

The report stage calls render.render_all; no training stage imports this package, so a figure's
resolution or words change no training stage's dependencies. Imports no stage.
"""
