"""HTTP helpers shared by the domains' routes and services: strict bodies, keyset
paging cursors, free-text cleaning, and the OpenAPI document's problem responses."""
