"""Library shared by the jobs: typed config, the Spark session, the Delta lake layer, CLI helpers."""
