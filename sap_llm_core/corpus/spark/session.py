"""The Spark session: ``local[*]`` by default, any ``spark.master`` when configured.

On a cluster (``spark.master: spark://host:7077`` or ``k8s://...``) the same jobs run unchanged as long
as the storage root is a URL every executor can reach (``s3://...``, read as ``s3a://`` by Spark with
the hadoop-aws package in ``spark.conf``); a local folder only works with a local master.
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from sap_llm_core.corpus.config import SparkSettings


def build_session(settings: SparkSettings) -> SparkSession:
    # Executors must run the same interpreter as the driver (the project's venv), or pandas UDFs
    # would import a different pyarrow/pandas.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(settings.master)
        .appName(settings.app_name)
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.default.parallelism", str(settings.shuffle_partitions))
        .config("spark.sql.files.minPartitionNum", str(settings.min_file_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.parquet.compression.codec", "zstd")
        .config("spark.sql.adaptive.enabled", "false")  # fixed partitioning -> reproducible files
        .config("spark.driver.extraJavaOptions", "-Dlog4j2.level=ERROR")
    )
    for key, value in settings.conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_path(path: str) -> str:
    """A store path as Spark's Hadoop filesystems spell it (``s3://`` -> ``s3a://``)."""
    return "s3a://" + path[len("s3://") :] if path.startswith("s3://") else path
