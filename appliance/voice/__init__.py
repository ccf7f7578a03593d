"""Voice stages inside the box: 16 kHz audio helpers, endpointing, speech recognition and synthesis."""
