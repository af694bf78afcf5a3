"""``onecode demo``: a Guizhou region with real attractions, and simulated days of
travellers going through the HTTP API, so that the planner dashboard shows something
true to life.

Everything goes through the public API (in-process over ASGI, or ``--url``): admin
calls build the catalog; travellers register, fetch their code, book, check in,
review and complain; gates upload their scans. Past days can only be told by the
offline batch upload (``POST /v1/gate/scans/batch``: scans carry their own
``scanned_at``; an online gate decides by server time), so every gate scan of the
simulated past goes that way, like gates that were offline and synced afterwards.
Self check-ins and bookings are stamped by the server's clock, so they are simulated
for the last hour (check-ins) and for today's remaining and upcoming slots (bookings);
no-shows appear once those slots have ended and the server's sweep has run.

The plan (who goes where, when) is drawn first from ``--seed``, so a run is
deterministic apart from the calendar day it is run on.
"""
