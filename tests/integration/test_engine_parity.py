"""Both Delta engines give the same results through the lake layer.

The delta-rs engine runs here in the test session. The delta-spark engine needs the Delta JVM jars on
Spark's classpath (they come from Maven Central, which these machines cannot reach): the test looks for
them in ``$RISKPIPE_DELTA_JARS`` (a colon-separated list of jar files) and in pyspark's own ``jars/``
folder (where the docker image puts them), runs the same scenario in a separate process with them, and
skips — saying so — when they are absent.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCENARIO = r'''
import json, sys
from jobs.lib import lake
from jobs.lib.spark import get_spark
spark = get_spark("engine-parity")
table = sys.argv[1]
rows = [(i, f"2026-01-0{1 + i % 3}", float(i) * 1.5, f"c{i % 4}") for i in range(30)]
df = spark.createDataFrame(rows, "id INT, ds STRING, amount DOUBLE, segment STRING")
lake.write(df, table, mode="overwrite", partition_by=["ds"])
lake.write(df.where("ds = '2026-01-02'").withColumn("amount", df.amount * 10), table, mode="overwrite",
           replace_where="ds = '2026-01-02'")
changes = spark.createDataFrame([(1, "2026-01-02", -1.0, "cx"), (99, "2026-01-03", 5.0, "c9")],
                                "id INT, ds STRING, amount DOUBLE, segment STRING")
lake.merge(changes, table, keys=["id"])
result = {
    "engine": lake.engine(spark),
    "rows": sorted(map(list, lake.read(table).select("id", "ds", "amount", "segment").collect())),
    "v0": sorted(map(list, lake.read(table, version=0).select("id", "amount").collect())),
    "operations": [c.operation for c in lake.history(table, spark)],
}
print("RESULT " + json.dumps(result))
'''


def delta_jars() -> list[str]:
    configured = [p for p in os.environ.get("RISKPIPE_DELTA_JARS", "").split(":") if p]
    import pyspark

    bundled = glob.glob(str(Path(pyspark.__file__).parent / "jars" / "delta-*.jar"))
    return configured or bundled


def _run(table: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", SCENARIO, table], capture_output=True, text=True,
                         timeout=600, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


@pytest.mark.slow
def test_delta_spark_and_delta_rs_agree(tmp_path):
    jars = delta_jars()
    if not jars:
        pytest.skip("delta-spark jars are not on the classpath here (no Maven Central access): set "
                    "RISKPIPE_DELTA_JARS or put delta-spark_2.13 and delta-storage jars in pyspark/jars")
    embedded = _run(str(tmp_path / "rs"), {"RISKPIPE_DELTA_ENGINE": "delta-rs"})
    jvm_conf = ("spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension,"
                "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog")
    jvm = _run(str(tmp_path / "jvm"), {"PYSPARK_SUBMIT_ARGS": f"--jars {','.join(jars)} "
                                       + " ".join(f"--conf {c}" for c in jvm_conf.split(",")) + " pyspark-shell"})
    assert embedded["engine"] == "delta-rs" and jvm["engine"] == "delta-spark"
    assert jvm["rows"] == embedded["rows"] and jvm["v0"] == embedded["v0"]
    assert jvm["operations"][0] == embedded["operations"][0] == "MERGE"
    # Each engine's table reads back identically with the independent delta-rs reader.
    from deltalake import DeltaTable

    for name in ("rs", "jvm"):
        table = DeltaTable(str(tmp_path / name)).to_pyarrow_table().select(["id", "ds", "amount", "segment"])
        assert sorted(map(list, zip(*[table[c].to_pylist() for c in table.column_names]))) == embedded["rows"]
