"""A Spark Connect checkpoint's release has a deadline (``jobs.lib.spark._release_with_deadline``).

PySpark 4.2.0 releases a dropped checkpoint in ``CachedRemoteRelation.__del__`` with a blocking gRPC call and no
deadline: when no answer comes, the thread that dropped the frame waits forever (two CI runs of this project hung
so). Here a real gRPC server takes the release request and never answers; the release made by the project's
finalizer gives up after the deadline and logs it.
"""
from __future__ import annotations

import gc
import logging
import threading
import types
from concurrent import futures

import grpc
import pytest


@pytest.fixture()
def silent_server():
    """A gRPC server on a free loopback port that receives Spark Connect's ``ExecutePlan`` and never answers;
    yields (url, the relation ids it was asked to release)."""
    from pyspark.sql.connect.proto import base_pb2

    asked: list[str] = []
    done = threading.Event()

    def execute_plan(request, context):
        asked.append(request.plan.command.remove_cached_remote_relation_command.relation.relation_id)
        done.wait(120)  # no answer while the test runs
        return iter(())

    handler = grpc.method_handlers_generic_handler("spark.connect.SparkConnectService", {
        "ExecutePlan": grpc.unary_stream_rpc_method_handler(
            execute_plan, request_deserializer=base_pb2.ExecutePlanRequest.FromString,
            response_serializer=base_pb2.ExecutePlanResponse.SerializeToString)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"sc://127.0.0.1:{port}", asked
    finally:
        done.set()
        server.stop(grace=None)


def test_a_release_the_server_never_answers_gives_up_at_the_deadline(silent_server, monkeypatch, caplog):
    from pyspark.sql.connect.client import SparkConnectClient
    from pyspark.sql.connect.plan import CachedRemoteRelation

    from jobs.lib import spark as spark_lib

    url, asked = silent_server
    monkeypatch.setattr(spark_lib, "RELEASE_DEADLINE_S", 1.0)
    spark_lib._bound_releases()  # what the first Connect checkpoint of a process does
    client = SparkConnectClient(url)
    session = types.SimpleNamespace(client=client)  # what the finalizer uses of a session: its client

    def drop() -> None:
        relation = CachedRemoteRelation("3f1c6d2e-0b7a-4e55-9c1e-5a2b8d7f0e11", session)
        del relation  # the last reference: CPython runs the finalizer here, in this thread
        gc.collect()

    with caplog.at_level(logging.WARNING, logger="jobs.lib.spark"):
        dropping = threading.Thread(target=drop, daemon=True)
        dropping.start()
        dropping.join(60)  # the deadline is 1 s: a thread still in the call after 60 s is the hang
    client.close()
    assert not dropping.is_alive(), "the release call waited for the silent server instead of giving up"
    assert asked == ["3f1c6d2e-0b7a-4e55-9c1e-5a2b8d7f0e11"]  # the request went out, as PySpark's does
    warned = [r.getMessage() for r in caplog.records if r.name == "jobs.lib.spark"]
    assert len(warned) == 1 and "checkpoint 3f1c6d2e-0b7a-4e55-9c1e-5a2b8d7f0e11 failed" in warned[0], warned
    assert "DEADLINE_EXCEEDED" in warned[0] or "Deadline Exceeded" in warned[0], warned
