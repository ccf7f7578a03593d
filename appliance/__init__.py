"""Dentra Edge: an on-premise AI receptionist appliance for dental clinics."""

__version__ = "0.1.0"
