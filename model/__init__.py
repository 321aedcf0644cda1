"""Network, face detection, alignment and preprocessing shared by training and serving.

Nothing in here knows about a training stage or a server.
"""
