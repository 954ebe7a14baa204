"""Sources and parsers: files in, EventFrames and quarantined rejects out."""
