"""Developer tools of wcbundle: the fixture world, the test mirror, benchmarks, the demo."""
