"""Measurements of the suite itself, on top of everything and imported by nothing but
the CLI: the idiom check against hand-written versions (``handwritten/``), agreement
with asv, the harness's overhead, scaling, load speed."""
