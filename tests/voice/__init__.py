"""Tests for appliance/voice: audio helpers, endpointing."""
