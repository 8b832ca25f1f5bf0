"""Demo data for `houqin demo` and the first run of `scripts/serve`: not the domain's, so it lives in the
composition root. `data.py` holds the demo's world (sites, meetings, comment pools, the roster), `fill.py`
the month of feedback recorded through the service functions, `handling.py` its handling history,
`photos.py` the drawn plate photos, and `bulk.py` the same kinds of rows in bulk for scale
(`houqin demo --months M`)."""
