"""Layer 0: errors, the subprocess path, the HTTP transport, file utilities, units, paths."""
