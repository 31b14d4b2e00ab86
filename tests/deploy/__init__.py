"""Offline checks of the deployment files: compose, Dockerfiles, settings names."""
