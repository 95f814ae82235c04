"""riskpipe jobs: PySpark jobs for the risk-scoring pipeline and the small library they share (``jobs.lib``).

Every job module has ``main(argv)`` and runs as ``spark-submit jobs/<job>.py --use-case X --ds YYYY-MM-DD``
or ``python -m jobs.<job> ...``.
"""
