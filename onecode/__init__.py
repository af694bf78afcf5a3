"""onecode: one QR code for a whole region's tourism."""
