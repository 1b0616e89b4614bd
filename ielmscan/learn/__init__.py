"""Makes a bundle: datasets and splits, training, pretraining, the cascade's fit, baselines, metrics, evaluation."""
