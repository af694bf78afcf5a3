"""Place codes: the signed code on a venue's poster, what it resolves to, self check-ins."""
