"""Container images built and run here (docs/deploy.md § Images): ``make images`` builds the four
service images from their Dockerfiles, on local stand-ins for the base images where no registry is
reachable; ``make compose-test`` runs docker-compose.yml on them and exports through it."""

__all__: list[str] = []
