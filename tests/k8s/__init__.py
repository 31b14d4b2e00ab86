"""The deployment proven against a real Kubernetes control plane (levels b and c of
docs/deploy.md § What is validated)."""
