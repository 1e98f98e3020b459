"""The rota: session templates, periods, fair generation, publication, swaps (issue 3)."""
