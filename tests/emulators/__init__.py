"""Local stand-ins for Azure services, started by scripts/test (see launcher.py)."""
