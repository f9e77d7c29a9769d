"""HTTP gateway, command line and dashboard."""
