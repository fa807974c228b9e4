"""Tagging datasets on cluster engines (Dask, Apache Spark, Ray): the engine-neutral job and a thin layer per engine."""
