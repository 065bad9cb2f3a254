"""Finding rings: evidence, communities (GDS or networkx), scoring, rings across runs, evaluation."""
