"""Operations: list, change, deactivate, revoke and audit what an operator runs (issue 17)."""
