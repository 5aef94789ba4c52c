"""The Kafka runtime: the batch loop, rebalances, checkpoints, partition state
and its changelog, routing, topics. Calls into the pure core in `triggers/`."""
