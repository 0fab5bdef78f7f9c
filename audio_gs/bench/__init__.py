"""The benchmark: datasets, baseline codecs, metrics, the grid and its aggregation, the report.
It judges files (.ags and audio), decoding .ags files with the codec."""
