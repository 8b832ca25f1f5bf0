"""The tap-to-rate feedback page (H5, inside WeChat's browser or any phone browser): an edge like console/."""
