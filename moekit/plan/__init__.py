"""Plan: the strategy space, its vectorised search and the placement of a chosen strategy on GPUs."""
