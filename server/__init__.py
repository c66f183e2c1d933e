"""Lamina's web server: pages, JSON API and WebSocket streaming over the engine."""
