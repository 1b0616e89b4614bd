"""Applies a bundle: the scorer (one path that scores windows), genome scans, sequence prediction, devices."""
