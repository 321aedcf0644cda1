"""The data stage (`make data`): photos -> detected, aligned faces in the cache, the splits, the pair lists
and the held-out benchmark. Imports model/ (and the shared settings) only."""
