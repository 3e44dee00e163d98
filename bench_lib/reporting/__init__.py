"""What a run wrote, read back: the results folder (``store``), the tidy table
(``tidy``), the views, figures, summary and HTML page of the report, ``compare``, FLOP
counts and the kept peaks.  Imports core and suite only: reading results needs no
framework."""
