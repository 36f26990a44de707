"""Runs split over independent jobs: which questions a shard answers (shard.py) and how the shards' run
directories are joined into one (merge.py); runs split over the processes of one launch (ranks.py), which
see each other through heartbeat files (heartbeat.py)."""
