"""What a bundle stores: tokens, the network and its attention paths, bundle I/O, cascade data, weight import."""
