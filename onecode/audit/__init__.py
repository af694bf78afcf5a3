"""The audit trail: every admin and operator change, who, what, before -> after, when."""
