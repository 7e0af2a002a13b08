-- Nodes serving ingestion, each heartbeating every few seconds: a source's
-- rate limit is split between the nodes seen alive recently, so the cluster
-- as a whole admits no more than the limit.
CREATE TABLE ingest_nodes (
    node_id             TEXT PRIMARY KEY,
    heartbeat_at        BIGINT NOT NULL
);
CREATE INDEX ingest_nodes_heartbeat ON ingest_nodes(heartbeat_at);
