"""The conversation brain: understanding (rules, then a local model, then an optional cloud model),
call flows that decide, and templated replies. The model understands; code decides."""
