"""What every layer uses: errors as one line, atomic writes, strict JSON, storage refusals,
progress lines, Lightning's noise silenced, the statistics of seed groups. Imports nothing of
fidle_runs."""
