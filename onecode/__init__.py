"""onecode: one QR code for a whole region's tourism."""

__version__ = "0.1.0"
