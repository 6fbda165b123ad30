"""Scaffolding shared by the unit tests, the lab tests and the benchmarks; never deployed."""
