"""Deliveries in the data contract (../shared/DATA_CONTRACT.md) into the graph."""
