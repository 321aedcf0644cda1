"""Training-side code shared by the stages: parameters, the aligned-face cache, evaluation.
The server never imports this package."""
