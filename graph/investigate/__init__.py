"""What the investigator app reads: the ring queue, a ring's graph and members, expansion, search."""
