"""Layer 3: the lock -> the bundle tree and tar (fetch, signatures, localrepo, pack, SBOM, report)."""
