"""The ledger's REST endpoints: its partitions, the frame feed, and webhook subscriptions."""
