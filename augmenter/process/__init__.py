"""Process machinery with no knowledge of domains: a batch over forked workers with results in
order (``workers``), and steps a Ctrl-C must not cut (``sigint``). Used by the API's batch and by
the command line.
"""
