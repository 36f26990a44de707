"""Runs split over independent jobs: which questions a shard answers (shard.py) and how the shards' run
directories are joined into one (merge.py)."""
