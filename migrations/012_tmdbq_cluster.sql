-- 012: which RabbitMQ node each consumer is on.
--
-- TMDBQ_AMQP_URL may list the nodes of a cluster; every consumer connects to one that
-- answers and moves to another when its node goes away. Its heartbeat records the node
-- ("host:port") its deliveries come from, so `tmdbq status` can show how the consumers
-- are spread and which ones a node's loss moved. NULL until the first heartbeat after a
-- connection (and for consumers older than this migration).
ALTER TABLE tmdbq_consumers ADD COLUMN IF NOT EXISTS amqp_node TEXT;
