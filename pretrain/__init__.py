"""SimCLR pretraining of the face backbone on unlabeled faces (lightly)."""
