"""Scenarios as data: workload and fault-plan strategies per real-world pattern or fault
family, in one registry. Pure: imports only ``models``."""
