"""The product core shared by every layer: errors, secrets, results and the parallel runner."""
