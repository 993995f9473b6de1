"""Real-process tests of the dev stack: Postgres, both Kafka brokers, the mail catcher."""

from __future__ import annotations

import asyncio
import signal
import smtplib
import socket
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from cxloop_devstack.kafka import (
    ApacheKafka,
    TansuBroker,
    choose_broker,
    java_available,
)
from cxloop_devstack.mailcatcher import MailCatcher
from cxloop_devstack.ports import free_port
from cxloop_devstack.postgres import EmbeddedPostgres, wait_for_postgres
from cxloop_shared.operations import create_topics

# Tansu holds a new group's first JoinGroup for about half the session timeout.
_FAST_GROUP = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 1000}


async def test_postgres_select_1_and_data_survives_restart(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg", fast=True)
    url = server.start()
    try:
        assert url.startswith("postgresql+asyncpg://")
        assert url.endswith("/cxloop")
        await wait_for_postgres(url, timeout=10)
        conn = await asyncpg.connect(server.dsn)
        try:
            assert await conn.fetchval("select 1") == 1
            assert await conn.fetchval("select current_database()") == "cxloop"
            await conn.execute("create table kept (v int); insert into kept values (42)")
        finally:
            await conn.close()

        # A second handle on the same data dir adopts the running server.
        assert EmbeddedPostgres(tmp_path / "pg").start() == url

        server.stop()
        assert not server.is_running()
        assert server.start() == url  # same remembered port
        conn = await asyncpg.connect(server.dsn)
        try:
            assert await conn.fetchval("select v from kept") == 42
        finally:
            await conn.close()
    finally:
        server.stop()
    assert not server.is_running()


async def _produce(bootstrap: str, topic: str, values: list[bytes], *, idempotent: bool) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=idempotent, acks="all"
    )
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"same-partition")
    finally:
        await producer.stop()


async def _consume_and_commit(bootstrap: str, topic: str, group: str, count: int) -> list[bytes]:
    """Read ``count`` messages in consumer group ``group`` and commit them manually."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **_FAST_GROUP,
    )
    await consumer.start()
    try:
        values: list[bytes] = []
        async with asyncio.timeout(20):
            while len(values) < count:
                batches = await consumer.getmany(timeout_ms=500)
                values += [m.value for msgs in batches.values() for m in msgs if m.value]
        await consumer.commit()
        committed = [await consumer.committed(tp) for tp in consumer.assignment()]
        assert sum(offset or 0 for offset in committed) == count
        return values
    finally:
        await consumer.stop()


async def test_tansu_consumer_group_with_manual_commit(tmp_path: Path) -> None:
    broker = TansuBroker(tmp_path / "tansu")
    assert not broker.supports_idempotence
    bootstrap = broker.start()
    try:
        assert bootstrap == broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
        await create_topics(bootstrap, {"orders": 3})
        await create_topics(bootstrap, {"orders": 3, "events": 2})  # existing one is fine
        await _produce(bootstrap, "orders", [b"a", b"b", b"c"], idempotent=False)
        assert await _consume_and_commit(bootstrap, "orders", "g1", 3) == [b"a", b"b", b"c"]
    finally:
        broker.stop()
    assert not broker.is_running()


@pytest.mark.skipif(not java_available(), reason="Apache Kafka needs java and mvn on PATH")
async def test_apache_kafka_idempotent_and_keeps_data_across_restart(tmp_path: Path) -> None:
    broker = ApacheKafka(tmp_path / "kafka")
    assert broker.supports_idempotence
    bootstrap = broker.start()
    try:
        await create_topics(bootstrap, {"orders": 2})
        await _produce(bootstrap, "orders", [b"kept"], idempotent=True)
        assert await _consume_and_commit(bootstrap, "orders", "g1", 1) == [b"kept"]

        broker.stop()
        assert not broker.is_running()
        assert broker.start() == bootstrap  # same port, same data dir

        assert await _consume_and_commit(bootstrap, "orders", "g2", 1) == [b"kept"]
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="g1")
        await consumer.start()
        try:
            offsets = [await consumer.committed(TopicPartition("orders", p)) for p in (0, 1)]
        finally:
            await consumer.stop()
        assert sorted(o or 0 for o in offsets) == [0, 1]  # g1's commit survived too
    finally:
        broker.stop()


def test_choose_broker(tmp_path: Path) -> None:
    assert isinstance(choose_broker(tmp_path, "embedded"), TansuBroker)
    assert isinstance(choose_broker(tmp_path, "apache"), ApacheKafka)
    expected = ApacheKafka if java_available() else TansuBroker
    assert isinstance(choose_broker(tmp_path), expected)
    with pytest.raises(ValueError, match="unknown broker"):
        choose_broker(tmp_path, "zookeeper")


def _mail(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "surveys@cxloop.test"
    message["To"] = "customer@example.test"
    message["Subject"] = subject
    message.set_content("How did we do?")
    message.add_alternative("<p>How did <b>we</b> do?</p>", subtype="html")
    return message


def test_mailcatcher_shows_received_mail() -> None:
    catcher = MailCatcher()
    catcher.start()
    try:
        with smtplib.SMTP("127.0.0.1", catcher.smtp_port, timeout=5) as smtp:
            smtp.send_message(_mail("Your feedback"))
        [caught] = catcher.wait_for(1, timeout=5)
        assert caught["Subject"] == "Your feedback"
        assert caught.rcpt_tos == ("customer@example.test",)

        with httpx.Client(base_url=catcher.http_url, timeout=5) as client:
            [listed] = client.get("/api/messages").json()
            assert listed["id"] == caught.id
            assert listed["mail_from"] == "surveys@cxloop.test"
            assert listed["rcpt_tos"] == ["customer@example.test"]
            assert listed["subject"] == "Your feedback"
            assert listed["headers"]["To"] == "customer@example.test"
            assert listed["text"] == "How did we do?\n"
            assert listed["html"] == "<p>How did <b>we</b> do?</p>\n"
            assert listed["date"]
            assert "Your feedback" in client.get("/").text
            assert client.get(f"/messages/{caught.id}").text == listed["html"]
            assert client.get("/messages/999").status_code == 404
    finally:
        catcher.stop()


def test_mailcatcher_runs_standalone() -> None:
    smtp_port, http_port = free_port(), free_port()
    command = [sys.executable, "-m", "cxloop_devstack.mailcatcher"]
    command += ["--smtp-port", str(smtp_port), "--http-port", str(http_port)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "SMTP on" in proc.stdout.readline()
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5) as smtp:
            smtp.send_message(_mail("standalone"))
        response = httpx.get(f"http://127.0.0.1:{http_port}/api/messages", timeout=5)
        assert [m["subject"] for m in response.json()] == ["standalone"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        if proc.stdout is not None:
            proc.stdout.close()
    # The ports are released once it exits. SO_REUSEADDR, as any server sets it: the
    # closed SMTP session may leave a TIME_WAIT entry, which is not a listener.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", smtp_port))
        sock.listen()


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert 0 < port < 65536
