"""Appliance operations: offsite replication, restores and drills, status, upgrades."""
