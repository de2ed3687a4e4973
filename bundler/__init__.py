"""wcbundle: offline bundle builder for air-gapped EL 7/8/9 WorkCenter sites.

The builder is a pipeline, one module per stage:
manifest -> metadata -> resolve -> lock -> fetch -> localrepo -> pack.
"""

__version__ = "0.1.0"
