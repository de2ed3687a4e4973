"""Shared test helpers (issue 12): one of each, instead of a copy per test file.

- `support.http`: the HTTP test servers: `serve(root)` (scripts/mirror.py's Mirror, the one
  fault-injecting file server) and `ForwardProxy` (a real forwarding proxy on 127.0.0.1).
- `support.rpms`: RPM and key builders (rpmbuild, gpg), for tests that need a few real packages
  without the fixture world.
- `support.locks`: lock builders (the JSON shape and the typed `bundler.lock.Lock`).
- `support.cli`: `wcb(...)`, the one in-process CLI runner (click's CliRunner, exit code and
  output as the user sees them).
"""
