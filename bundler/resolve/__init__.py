"""Layer 1: manifest + repo metadata + baseline -> the lock (libsolv)."""
