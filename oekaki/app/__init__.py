"""The draw-it-yourself page: a person draws a digit, the judge reads it, every painter answers (`make app`).

At the flows level of the layer order (it reads the registry through oekaki.pipeline); no stage imports it.
"""
