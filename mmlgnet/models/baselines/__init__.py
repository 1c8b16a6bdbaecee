"""Established HSI+LiDAR networks re-implemented under the network contract (README, "Networks")."""
