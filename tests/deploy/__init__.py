"""Checks of the deployment files (Dockerfiles, docker-compose.yml, deploy/) without Docker."""
