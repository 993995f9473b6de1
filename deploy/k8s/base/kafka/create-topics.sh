#!/bin/bash
# Creates cxloop's Kafka topics with the partition counts the services expect. Runs in the
# apache/kafka image: the topic job of docker-compose.yml and the cxloop-topics Job of
# deploy/k8s. shared/src/cxloop_shared/topics.py is the source of truth;
# tests/deploy checks this list against it.
#
# Idempotent: an existing topic is left as it is. Partitions can only grow, and growing
# them moves customers to other partitions (their order holds only within one), so do it
# deliberately: kafka-topics.sh --alter --topic <topic> --partitions <n>.
set -euo pipefail

: "${BOOTSTRAP_SERVERS:?set BOOTSTRAP_SERVERS, e.g. kafka:9092}"
REPLICATION_FACTOR=${REPLICATION_FACTOR:-1}
MIN_INSYNC_REPLICAS=${MIN_INSYNC_REPLICAS:-1}
# KAFKA_TOPICS_SH: another kafka-topics.sh (tests/deploy runs this script with a stub).
TOPICS=${KAFKA_TOPICS_SH:-/opt/kafka/bin/kafka-topics.sh}
DAY_MS=86400000

echo "waiting for Kafka at $BOOTSTRAP_SERVERS"
for attempt in $(seq 1 60); do
  if "$TOPICS" --bootstrap-server "$BOOTSTRAP_SERVERS" --list >/dev/null 2>&1; then
    break
  fi
  if [ "$attempt" -eq 60 ]; then
    echo "Kafka did not answer" >&2
    exit 1
  fi
  sleep 5
done

# create TOPIC PARTITIONS RETENTION_DAYS
create() {
  "$TOPICS" --bootstrap-server "$BOOTSTRAP_SERVERS" --create --if-not-exists \
    --topic "$1" --partitions "$2" --replication-factor "$REPLICATION_FACTOR" \
    --config retention.ms=$(($3 * DAY_MS)) \
    --config min.insync.replicas="$MIN_INSYNC_REPLICAS"
}

# Event topics keep 7 days: consumers commit only after their effect is durable, so a
# week covers a consumer that is down over a long weekend. cx.customers carries personal
# data, a reason not to keep it longer.
create cx.touchpoints 12 7
create cx.invitations 12 7
create cx.responses 12 7
create cx.customers 12 7
create cx.alerts 3 7
# Dead letters keep 30 days, time for an operator to look, fix and replay.
create cx.touchpoints.dlq 1 30
create cx.invitations.dlq 1 30
create cx.responses.dlq 1 30
create cx.customers.dlq 1 30
create cx.alerts.dlq 1 30

"$TOPICS" --bootstrap-server "$BOOTSTRAP_SERVERS" --list
