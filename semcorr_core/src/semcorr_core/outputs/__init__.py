"""Outputs: pictures (keypoints, depth, canonical maps) and serialised results."""
