"""PySpark jobs of the corpus pipeline. They run unchanged on ``local[*]`` and on a cluster URL."""
