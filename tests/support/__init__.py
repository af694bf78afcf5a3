"""Helpers shared by the test modules: import them from here, never from another test.

apps.py        the test client type; an app built with changed settings
problems.py    assert_problem: the one check of an RFC 9457 answer
servers.py     a real uvicorn in a thread; a free port
postgres.py    throwaway-cluster switches (FAST_UNSAFE, pg_ctl)
imports.py     the import graph of a package (the layering test)
visits.py      scans written straight into the database (test setup)
flows_data.py  the planner flows' worked dataset
problem_codes.py  every problem code and scan reason the source can produce (catalog test)
schema.py, citus_rules.py   the schema snapshot and the Citus statement rules
"""
