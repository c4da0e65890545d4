"""Research tooling, imported by no library module: the experiments of RESULTS.md, its
tables and figures, decode records, significance tests, parking and keeping runs."""
