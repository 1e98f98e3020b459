"""Data shipped inside the package (the official list of French communes)."""
