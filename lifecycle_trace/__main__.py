"""`python -m lifecycle_trace ...` = the `lctrace` console script (the layer's exec wrapper uses
this form, so it works without the console script on PATH)."""

from lifecycle_trace.cli import main

main()
