"""What both training stages share: the time-budgeted loop, checkpoints, the schedule, the
transfer guards, params.yaml and the output-path rule. The server never imports this package."""
